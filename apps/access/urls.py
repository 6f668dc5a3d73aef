from django.urls import path

from . import views

app_name = "access"
urlpatterns = [
    path("groups/", views.group_list, name="groups"),
    path("groups/<int:group_id>/", views.group_detail, name="group"),
    path("groups/<int:group_id>/edit", views.group_edit, name="group_edit"),
    path("groups/<int:group_id>/invite", views.group_invite, name="group_invite"),
    path("memberships/<int:membership_id>", views.membership_update, name="membership"),
    path("invitations/", views.invitations, name="invitations"),
    path("invitations/<int:membership_id>", views.invitation_respond, name="invitation_respond"),
    path("resources/<int:resource_id>/share", views.share, name="share"),
]
