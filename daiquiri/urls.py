from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("apps.core.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("access/", include("apps.access.urls")),
    path("activity/", include("apps.activity.urls")),
    path("admin/", admin.site.urls),
]
