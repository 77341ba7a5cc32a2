from django.urls import path
from django.urls import re_path

from image_importer.dashboards.project.image_subscriptions import views

urlpatterns = [
    re_path(r'^$', views.IndexView.as_view(), name='index'),
    re_path(r'^follow/$', views.FollowView.as_view(), name='follow'),
    path('<uuid:sub_id>/edit/', views.EditView.as_view(), name='edit'),
]
