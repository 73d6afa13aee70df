"""Portal URLs of the operator pages: nodes, prices, earnings."""

from django.urls import path, re_path

from . import operator_views

urlpatterns = [
    path("nodes/", operator_views.nodes_page, name="nodes"),
    path("nodes/new/", operator_views.node_new, name="node-new"),
    path("nodes/<uuid:code>/", operator_views.node_detail, name="node-detail"),
    re_path(
        r"^nodes/(?P<code>[0-9a-f-]{36})/(?P<action>pause|resume|test)/$",
        operator_views.node_action,
        name="node-action",
    ),
]

urlpatterns += [
    path("earnings/", operator_views.earnings_page, name="earnings"),
    path("earnings/statement.csv", operator_views.earnings_statement, name="earnings-statement"),
]
