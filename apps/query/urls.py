from django.urls import URLPattern, URLResolver

app_name = "query"
urlpatterns: list[URLPattern | URLResolver] = []
