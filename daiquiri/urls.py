from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("apps.core.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("access/", include("apps.access.urls")),
    path("activity/", include("apps.activity.urls")),
    path("data/", include("apps.metadata.urls")),
    path("query/", include("apps.query.urls")),
    path("tap/", include("apps.tap.urls")),
    path("conesearch/", include("apps.conesearch.urls")),
    path("files/", include("apps.files.urls")),
    path("compute/", include("apps.compute.urls")),
    path("registry/", include("apps.registry.urls")),
    path("datalink/", include("apps.datalink.urls")),
    path("admin/", admin.site.urls),
]

handler500 = "apps.core.busy.server_error"  # a busy database is a 503 with Retry-After, not a 500
