from django.urls import path

from . import api, views

app_name = "accounts"
urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("tokens/new", views.token_create, name="token_create"),
    path("tokens/<int:token_id>/revoke", views.token_revoke, name="token_revoke"),
    path("pending/", views.pending, name="pending"),
    path("pending/<int:user_id>/<str:step>", views.approve, name="approve"),
    path("api/me", api.me, name="api_me"),
]
