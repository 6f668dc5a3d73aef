from django.urls import path

from . import views

app_name = "query"
urlpatterns = [
    path("", views.index, name="index"),
    path("adql/", views.adql_reference, name="adql_reference"),
    path("limits/", views.limits, name="limits"),
    path("import/", views.import_table, name="import"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/<str:job_id>/", views.job_detail, name="job"),
    path("jobs/<str:job_id>/status", views.job_status, name="job_status"),
    path("jobs/<str:job_id>/rows", views.job_rows, name="job_rows"),
    path("jobs/<str:job_id>/plot", views.job_plot, name="job_plot"),
    path("jobs/<str:job_id>/download", views.job_download, name="job_download"),
    path("jobs/<str:job_id>/rerun", views.job_rerun, name="job_rerun"),
    path("jobs/<str:job_id>/publish", views.job_publish, name="job_publish"),
    path("jobs/<str:job_id>/abort", views.job_abort, name="job_abort"),
    path("jobs/<str:job_id>/delete", views.job_delete, name="job_delete"),
    path("jobs/<str:job_id>/rename", views.job_rename, name="job_rename"),
    path("jobs/<str:job_id>/drop", views.job_drop, name="job_drop"),
]
