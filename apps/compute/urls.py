from django.urls import URLPattern, URLResolver, path

from . import uws, views

app_name = "compute"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("jobs/<uuid:job_id>/", views.job_page, name="job"),
    path("jobs/<uuid:job_id>/abort", views.abort, name="abort"),
    path("jobs/<uuid:job_id>/delete", views.delete, name="delete"),
    # JSON API
    path("api/jobs/", views.api_jobs, name="api_jobs"),
    path("api/jobs/<uuid:job_id>/", views.api_job, name="api_job"),
    path("api/jobs/<uuid:job_id>/abort/", views.api_abort, name="api_abort"),
    path("api/images/", views.api_images, name="api_images"),
    path("api/domains/", views.api_domains, name="api_domains"),
    # UWS 1.1
    path("uws", uws.job_list, name="uws"),
    path("uws/<uuid:job_id>", uws.job_resource, name="uws_job"),
    path("uws/<uuid:job_id>/log/<str:stream>", uws.job_log, name="uws_log"),
    path("uws/<uuid:job_id>/<str:resource>", uws.job_resource, name="uws_job_resource"),
]
