from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "metadata"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.schemas, name="schemas"),
    path("search", views.search, name="search"),
    path("<str:schema>/", views.schema_detail, name="schema"),
    path("<str:schema>/<str:table>/", views.table_detail, name="table"),
    path("<str:schema>/<str:table>/metadata.vot", views.table_votable, name="table_votable"),
    path("<str:schema>/<str:table>/datacite.json", views.table_datacite, name="table_datacite"),
]
