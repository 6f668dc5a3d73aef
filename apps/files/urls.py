from django.urls import URLPattern, URLResolver, path

from . import api, views

app_name = "files"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("new", views.create_volume, name="create_volume"),
    path("v/<int:volume_id>/", views.browse, name="browse"),
    path("v/<int:volume_id>/op", views.operate, name="operate"),
    path("v/<int:volume_id>/delete", views.delete_volume, name="delete_volume"),
    path("v/<int:volume_id>/download", views.download, name="download"),
    path("v/<int:volume_id>/preview", views.preview, name="preview"),
    path("save-result/<uuid:job_id>", views.save_result, name="save_result"),
    # JSON API (token or session auth)
    path("api/volumes/", api.volumes, name="api_volumes"),
    path("api/volumes/<int:volume_id>/", api.volume, name="api_volume"),
    path("api/volumes/<int:volume_id>/list/", api.listing, name="api_list"),
    path("api/volumes/<int:volume_id>/download/", api.download, name="api_download"),
    path("api/volumes/<int:volume_id>/upload/", api.upload, name="api_upload"),
    path("api/volumes/<int:volume_id>/mkdir/", api.mkdir, name="api_mkdir"),
    path("api/volumes/<int:volume_id>/move/", api.move, name="api_move"),
    path("api/volumes/<int:volume_id>/delete/", api.delete, name="api_delete"),
    path("api/volumes/<int:volume_id>/preview/", api.preview, name="api_preview"),
    path("api/volumes/<int:volume_id>/share/", api.share, name="api_share"),
    path("api/volumes/<int:volume_id>/save-result/", api.save_result, name="api_save_result"),
]
