from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "datalink"
urlpatterns: list[URLPattern | URLResolver] = [
    path("<str:schema>/<str:table>/links", views.links, name="links"),
]
