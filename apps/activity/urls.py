from django.urls import path

from . import views

app_name = "activity"
urlpatterns = [
    path("", views.my_activity, name="mine"),
    path("all/", views.all_activity, name="all"),
    path("statistics/", views.statistics, name="statistics"),
]
