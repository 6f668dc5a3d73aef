from django.urls import URLPattern, URLResolver

app_name = "conesearch"
urlpatterns: list[URLPattern | URLResolver] = []
