from django.urls import path

from shop import views

urlpatterns = [
    path("", views.storefront, name="storefront"),
    path("checkout/<slug:plan>/", views.checkout, name="checkout"),
    path("orders/<uuid:number>/pay/", views.pay, name="pay"),
    path("orders/<uuid:number>/", views.order_page, name="order"),
    path("orders/<uuid:number>/refund/", views.refund, name="refund"),
    path("orders/<uuid:number>/cancel/", views.cancel_subscription, name="cancel"),
]
