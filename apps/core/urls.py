from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("contact/", views.contact, name="contact"),
    path("docs/", views.docs_index, name="docs"),
    path("docs/<slug:slug>/", views.doc_page, name="doc_page"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("health", views.health, name="health"),
]
