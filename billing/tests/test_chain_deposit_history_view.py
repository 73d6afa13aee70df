"""The USDC deposit page and its polled history fragment: the current Account's deposits only."""

from billing.chains import services
from billing.chains.services import ObservedTransfer
from billing.models import ChainDeposit


def _deposit(account, *, tx, units=7_000_000):
    address = services.deposit_address_ensure(account=account, network="base")
    services.chain_deposits_record(
        network="base",
        transfers=[
            ObservedTransfer(
                tx_hash=tx,
                log_index="0",
                from_address="0x1",
                to_address=address.address,
                amount_units=units,
                block_number=10,
                block_hash="0xabc",
            )
        ],
    )
    return ChainDeposit.objects.get(tx_hash=tx)


def test_it_shows_the_history_of_the_current_account(client, alice, alice_account):
    _deposit(alice_account, tx="0xaaa")
    client.force_login(alice)

    response = client.get("/deposits/usdc/history/")

    assert response.status_code == 200
    assert b"0xaaa" in response.content
    assert b"Seen" in response.content
    assert b"$7.00" in response.content
    assert b'data-pending="true"' in response.content
    assert response["Cache-Control"] == "no-store"


def test_it_never_shows_another_tenants_deposits(client, charlie, charlie_account, alice_account):
    _deposit(alice_account, tx="0xaaa")
    client.force_login(charlie)

    history = client.get("/deposits/usdc/history/")
    page = client.get("/deposits/usdc/")

    assert b"0xaaa" not in history.content
    assert b"No USDC deposits yet" in history.content
    alice_address = services.deposit_address_ensure(account=alice_account, network="base").address
    assert alice_address.encode() not in page.content
    assert services.deposit_address_ensure(account=charlie_account, network="base").address.encode() in page.content


def test_it_sends_anonymous_visitors_to_log_in(client):
    response = client.get("/deposits/usdc/history/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_it_lists_deposits_for_the_api_in_the_agreed_shape(alice_account):
    from billing.selectors import chain_deposits_for_account

    deposit = _deposit(alice_account, tx="0xbbb", units=5_250_000)

    [row] = chain_deposits_for_account(alice_account)

    assert row["id"] == str(deposit.code)
    assert (row["method"], row["network"], row["amount_nanos"], row["status"]) == (
        "usdc",
        "base",
        5_250_000_000,
        "seen",
    )
    assert row["reference"] == "0xbbb"
    assert row["credited_at"] is None


def test_it_gives_the_combined_history_rows_of_the_card_work(alice_account):
    from billing.chains.selectors import chain_deposit_lookup, chain_deposit_row_fields, chain_deposits_queryset

    deposit = _deposit(alice_account, tx="0xccc")

    assert list(chain_deposits_queryset(alice_account)) == [deposit]
    assert chain_deposit_row_fields(deposit)["sort_id"] == deposit.id
    assert chain_deposits_queryset(alice_account).get(chain_deposit_lookup(str(deposit.code))) == deposit
    assert chain_deposit_lookup("not-a-uuid") is None
