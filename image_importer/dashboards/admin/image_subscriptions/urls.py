from django.urls import re_path

from image_importer.dashboards.admin.image_subscriptions import views

urlpatterns = [
    re_path(r'^$', views.IndexView.as_view(), name='index'),
]
