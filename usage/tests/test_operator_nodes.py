"""The operator portal's nodes: registration with a test call, bad URLs and names, pause and resume, tenancy."""

import pytest

from accounts.services import account_roles_update
from conftest import fund
from usage import selectors, services
from usage.models import Node, UsageRecord

from .conftest import CHEAP_MODEL, MODELS, free_port_url

SECRET_NODE_KEY = "sk-node-very-secret-1234"


@pytest.fixture
def oscar_client(client, oscar, operator_account):
    client.force_login(oscar)
    return client


@pytest.fixture
def charlie_operator(charlie_account):
    return account_roles_update(account=charlie_account, is_buyer=True, is_operator=True)


def register(client, follow=False, **fields):
    data = {"name": "gpu-1", "base_url": "", "api_key": SECRET_NODE_KEY, "models": [CHEAP_MODEL], **fields}
    return client.post("/nodes/new/", data, follow=follow)


@pytest.mark.django_db
def test_it_registers_a_node_that_answers_its_test_call_and_puts_it_live(oscar_client, operator_account, demo_node):
    response = register(oscar_client, base_url=demo_node.url, models=[CHEAP_MODEL, "qwen3-8b"])

    node = Node.objects.get(account=operator_account)
    assert response.status_code == 302 and response["Location"] == f"/nodes/{node.code}/"
    assert node.status == Node.Status.ACTIVE and node.check_error == "" and node.checked_at
    assert node.base_url == f"{demo_node.url}/v1" and node.api_key == SECRET_NODE_KEY
    assert sorted(node.models.values_list("model__model_id", flat=True)) == [CHEAP_MODEL, "qwen3-8b"]
    assert [r.node_id for r in selectors.routes_for_model(model_id=CHEAP_MODEL)] == [node.id]
    page = oscar_client.get(response["Location"]).content.decode()
    assert "answered a test request and is live" in page
    # The key is kept to call the node, and never shown again: not on its page, not in the list.
    assert SECRET_NODE_KEY not in page and SECRET_NODE_KEY not in oscar_client.get("/nodes/").content.decode()


@pytest.mark.django_db
def test_it_leaves_a_node_inactive_when_its_test_call_fails(oscar_client, operator_account, demo_node_factory):
    broken = demo_node_factory(failure_rate=1.0)  # answers every request with a 500

    response = register(oscar_client, base_url=broken.url)

    node = Node.objects.get(account=operator_account)
    assert node.status == Node.Status.INACTIVE
    assert node.check_error.startswith(f"The node answered HTTP 500 to a test request for `{CHEAP_MODEL}`")
    assert selectors.routes_for_model(model_id=CHEAP_MODEL) == []
    page = oscar_client.get(response["Location"]).content.decode()
    assert "is registered but inactive" in page and "answered HTTP 500" in page
    assert "Test again" in page

    # Fixed: the same node, pointed at a healthy server, passes its test and goes live.
    healthy = demo_node_factory()
    Node.objects.filter(id=node.id).update(base_url=f"{healthy.url}/v1")
    response = oscar_client.post(f"/nodes/{node.code}/test/", follow=True)
    assert "answered the test request and is live" in response.content.decode()
    node.refresh_from_db()
    assert node.status == Node.Status.ACTIVE and node.check_error == ""


@pytest.mark.django_db
def test_it_refuses_an_unreachable_node(oscar_client, operator_account):
    dead_url = free_port_url()

    response = register(oscar_client, base_url=dead_url, follow=True)

    node = Node.objects.get(account=operator_account)
    assert node.status == Node.Status.INACTIVE
    assert (
        node.check_error
        == f"We could not connect to {dead_url}/v1: is the server running and reachable from the internet?"
    )
    assert "could not connect" in response.content.decode()
    assert selectors.routes_for_model(model_id=CHEAP_MODEL) == []
    # Resuming does not bypass the test.
    response = oscar_client.post(f"/nodes/{node.code}/resume/", follow=True)
    assert "has not passed its test call yet" in response.content.decode()
    assert Node.objects.get(id=node.id).status == Node.Status.INACTIVE


@pytest.mark.parametrize(
    "url, message",
    [
        ("gpu1.example.com:8000", "A node&#x27;s URL starts with http:// or https://"),
        ("ftp://gpu1.example.com", "A node&#x27;s URL starts with http:// or https://"),
        ("http://:8000/v1", "needs a host name or IP address"),
        ("http://gpu1.example.com:99999/v1", "That is not a valid URL: check the host and port."),
        ("https://admin:hunter2@gpu1.example.com/v1", "Put the node&#x27;s key in the key field, not in the URL."),
        ("https://gpu1.example.com/v1?token=abc", "no query (?...) or fragment"),
        ("http://gpu 1.example.com/v1", "needs a host name or IP address"),
    ],
)
@pytest.mark.django_db
def test_it_refuses_bad_urls_with_a_clear_message_and_creates_nothing(oscar_client, url, message):
    response = register(oscar_client, base_url=url)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Node.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_duplicate_name_and_a_form_without_models(oscar_client, operator_account, demo_node):
    services.node_create(account=operator_account, name="GPU-1", base_url=demo_node.url)

    response = register(oscar_client, base_url=demo_node.url, name="gpu-1")
    assert response.status_code == 400
    assert "You already have a node named &#x27;gpu-1&#x27;: choose another name." in response.content.decode()

    response = register(oscar_client, base_url=demo_node.url, name="gpu-2", models=[])
    assert response.status_code == 400 and "Choose at least one model." in response.content.decode()
    assert Node.objects.count() == 1


@pytest.mark.django_db
def test_another_operators_node_is_a_404_everywhere(client, charlie, charlie_operator, operator_account, demo_node):
    node = services.node_create(account=operator_account, name="gpu-1", base_url=demo_node.url, model_ids=[CHEAP_MODEL])
    client.force_login(charlie)

    assert client.get(f"/nodes/{node.code}/").status_code == 404
    assert client.post(f"/nodes/{node.code}/", {f"{CHEAP_MODEL}:input": "0.5"}).status_code == 404
    for action in ("pause", "resume", "test"):
        assert client.post(f"/nodes/{node.code}/{action}/").status_code == 404
    assert "gpu-1" not in client.get("/nodes/").content.decode()
    node.refresh_from_db()
    assert node.status == Node.Status.ACTIVE and node.models.get().input_price_nanos is None


@pytest.mark.django_db
def test_a_buyer_only_account_has_no_operator_pages(client, alice, alice_account):
    client.force_login(alice)
    response = client.get("/nodes/")
    assert response.status_code == 404 and "is not an operator account" in response.content.decode()
    assert client.get("/nodes/new/").status_code == 404
    assert 'href="/nodes/"' not in client.get("/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_paused_node_gets_no_traffic_until_it_is_resumed(
    client, oscar, alice_client, alice_account, operator_account, demo_node_factory
):
    client.force_login(oscar)
    cheap = services.node_create(
        account=operator_account, name="cheap", base_url=demo_node_factory().url, model_ids=MODELS
    )
    pricey = services.node_create(account=operator_account, name="pricey", base_url=demo_node_factory().url)
    services.node_model_set(node=pricey, model_id=CHEAP_MODEL, input_price_nanos=200, output_price_nanos=300)
    fund(alice_account, 1_000_000_000)

    def ask():
        alice_client.chat.completions.create(
            model=CHEAP_MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=3
        )
        return UsageRecord.objects.order_by("-id").first().node.name

    assert ask() == "cheap"  # routing prefers the cheaper node
    response = client.post(f"/nodes/{cheap.code}/pause/", follow=True)
    assert "is paused: it gets no new requests" in response.content.decode()
    assert Node.objects.get(id=cheap.id).status == Node.Status.PAUSED
    assert {ask() for _ in range(3)} == {"pricey"}

    client.post(f"/nodes/{cheap.code}/resume/")
    assert Node.objects.get(id=cheap.id).status == Node.Status.ACTIVE
    assert ask() == "cheap"
    # Pausing twice, or resuming an active node, says why nothing changed.
    assert "already active" in client.post(f"/nodes/{cheap.code}/resume/", follow=True).content.decode()


@pytest.mark.parametrize(
    "url, shown",
    [
        ("http://127.0.0.1:8000", "127.0.0.1 is a private or local address (127.0.0.1)"),
        ("http://10.0.0.5:8000/v1", "10.0.0.5 is a private or local address (10.0.0.5)"),
        ("http://169.254.169.254/latest", "169.254.169.254 is a private or local address"),
        ("http://localhost:8000", "localhost is a private or local address"),
        ("http://[::1]:8000", "::1 is a private or local address"),
    ],
)
@pytest.mark.django_db
def test_it_refuses_nodes_on_private_addresses_in_production(oscar_client, settings, url, shown):
    settings.NODE_ALLOW_PRIVATE_ADDRESSES = False

    response = register(oscar_client, base_url=url)

    assert response.status_code == 400
    assert (
        shown in response.content.decode() and "nodes must be reachable from the internet" in response.content.decode()
    )
    assert not Node.objects.exists()


@pytest.mark.django_db
def test_a_member_sees_the_nodes_but_only_owners_and_admins_change_them(client, bob, alice_account, demo_node):
    operator = account_roles_update(account=alice_account, is_buyer=True, is_operator=True)
    node = services.node_create(account=operator, name="gpu-1", base_url=demo_node.url, model_ids=[CHEAP_MODEL])
    client.force_login(bob)

    page = client.get(f"/nodes/{node.code}/").content.decode()
    assert "gpu-1" in page and "Only the team's owners and admins can change prices." in page
    assert "Save prices" not in page and ">Pause<" not in page
    assert client.post(f"/nodes/{node.code}/", {f"{CHEAP_MODEL}:input": "0.5"}).status_code == 403
    assert client.post(f"/nodes/{node.code}/pause/").status_code == 403
    assert register(client, base_url=demo_node.url, name="gpu-2").status_code == 403
    node.refresh_from_db()
    assert node.status == Node.Status.ACTIVE and node.models.get().input_price_nanos is None
    assert Node.objects.count() == 1


@pytest.mark.django_db
def test_lifting_a_suspension_does_not_put_an_untested_node_live(oscar_client, operator_account):
    register(oscar_client, base_url=free_port_url())
    failed = Node.objects.get()
    assert failed.status == Node.Status.INACTIVE

    services.operator_nodes_suspend(account=operator_account, reason="metering violation")
    assert Node.objects.get().status == Node.Status.SUSPENDED
    services.operator_nodes_restore(account=operator_account)
    assert Node.objects.get().status == Node.Status.INACTIVE
