from django.urls import URLPattern, URLResolver, path

from . import uws, views

app_name = "compute"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("jobs/<uuid:job_id>/", views.job_page, name="job"),
    path("jobs/<uuid:job_id>/abort", views.abort, name="abort"),
    path("jobs/<uuid:job_id>/delete", views.delete, name="delete"),
    # notebook sessions (JupyterLab itself is under /compute/sessions/<id>/, served by proxy.py through daiquiri/asgi.py)
    path("session/start", views.start_session, name="start_session"),
    path("session/<uuid:session_id>/", views.session_page, name="session"),
    path("session/<uuid:session_id>/stop", views.stop_session, name="stop_session"),
    # JSON API
    path("api/sessions/", views.api_sessions, name="api_sessions"),
    path("api/sessions/<uuid:session_id>/", views.api_session, name="api_session"),
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
