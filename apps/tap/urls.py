from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "tap"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.root, name="root"),
    path("sync", views.sync, name="sync"),
    path("async", views.async_jobs, name="async"),
    path("async/<uuid:job_id>", views.job, name="job"),
    path("async/<uuid:job_id>/results/result", views.job_result, name="job_result"),
    path("async/<uuid:job_id>/<str:resource>", views.job, name="job_resource"),
    path("capabilities", views.capabilities, name="capabilities"),
    path("availability", views.availability, name="availability"),
    path("tables", views.tables, name="tables"),
    path("tables/<str:name>", views.table, name="table"),
    path("examples", views.examples, name="examples"),
    path("jobs/<uuid:job_id>/", views.job_page, name="job_page"),
    path("results/<str:token>", views.signed_result, name="signed_result"),
    path("links/<str:token>", views.signed_query, name="signed_query"),
]
