"""A Solana JSON-RPC node of our own for tests, on loopback: it answers getSignaturesForAddress and
getTransaction (jsonParsed) in the shapes Solana documents, from transactions the test adds.

No Solana validator can run here, so this stands in for the node at the HTTP boundary. It can also
misbehave on purpose: `node.fail_next(n, how)` makes the next n requests answer HTTP 500, a JSON-RPC
error, or nothing in time.
"""

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from solders.signature import Signature

from .hd import TOKEN_PROGRAM_ID


class FakeSolanaNode:
    def __init__(self, *, slow_seconds: float = 1.5):
        self.transactions: list[dict] = []  # oldest first
        self.failures: list[str] = []
        self.requests: list[str] = []
        self.slow_seconds = slow_seconds
        self._slot = 300_000_000
        self._lock = threading.Lock()
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.requests.append(body["method"])
                with node._lock:
                    failure = node.failures.pop(0) if node.failures else None
                if failure == "http":
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"Internal Server Error")
                    return
                if failure == "slow":
                    time.sleep(node.slow_seconds)
                if failure == "rpc":
                    answer = {
                        "jsonrpc": "2.0",
                        "id": body["id"],
                        "error": {"code": -32005, "message": "Node is behind"},
                    }
                else:
                    answer = {"jsonrpc": "2.0", "id": body["id"], "result": node.answer(body["method"], body["params"])}
                data = json.dumps(answer).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, count: int, how: str = "http"):
        """The next `count` requests fail: "http" (500), "rpc" (JSON-RPC error) or "slow" (past the timeout)."""
        with self._lock:
            self.failures.extend([how] * count)

    # --- Chain state ------------------------------------------------------------------------------

    def _signature(self) -> str:
        seed = hashlib.sha512(f"sig-{len(self.transactions)}".encode()).digest()
        return str(Signature.from_bytes(seed))

    def add_transfer(
        self,
        *,
        source: str,
        destination: str,
        mint: str,
        amount: int,
        authority: str,
        checked: bool = True,
        finalized: bool = True,
        err=None,
        balance_mint: str | None = None,
        inner: bool = False,
    ) -> str:
        """A transaction moving `amount` base units of `mint` from token account `source` to `destination`.

        `balance_mint` is the mint the node reports for the token accounts (default: `mint`); `inner`
        puts the transfer inside another program's instruction.
        """
        self._slot += 3
        signature = self._signature()
        keys = [authority, source, destination, mint]
        info = {"source": source, "destination": destination, "authority": authority}
        if checked:
            info |= {
                "mint": mint,
                "tokenAmount": {
                    "amount": str(amount),
                    "decimals": 6,
                    "uiAmount": amount / 1_000_000,
                    "uiAmountString": str(amount / 1_000_000),
                },
            }
        else:
            info["amount"] = str(amount)
        transfer = {
            "program": "spl-token",
            "programId": str(TOKEN_PROGRAM_ID),
            "parsed": {"type": "transferChecked" if checked else "transfer", "info": info},
            "stackHeight": 2 if inner else None,
        }
        memo = {"programId": "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr", "parsed": "invoice", "program": "spl-memo"}
        if inner:
            outer = {"programId": "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4", "accounts": keys, "data": "3x"}
            instructions, inner_groups = [memo, outer], [{"index": 1, "instructions": [transfer]}]
        else:
            instructions, inner_groups = [memo, transfer], []
        owner_mint = balance_mint or mint

        def balance(index, ui):
            return {
                "accountIndex": index,
                "mint": owner_mint,
                "owner": authority,
                "programId": str(TOKEN_PROGRAM_ID),
                "uiTokenAmount": {"amount": str(ui), "decimals": 6, "uiAmount": ui / 1e6, "uiAmountString": str(ui)},
            }

        tx = {
            "slot": self._slot,
            "blockTime": 1_760_000_000 + self._slot,
            "version": 0,
            "meta": {
                "err": err,
                "status": {"Ok": None} if err is None else {"Err": err},
                "fee": 5000,
                "preBalances": [1_000_000_000, 2_039_280, 2_039_280, 1_461_600],
                "postBalances": [999_995_000, 2_039_280, 2_039_280, 1_461_600],
                "innerInstructions": inner_groups,
                "logMessages": [],
                "preTokenBalances": [balance(1, amount), balance(2, 0)],
                "postTokenBalances": [balance(1, 0), balance(2, amount)],
                "rewards": [],
                "loadedAddresses": {"writable": [], "readonly": []},
                "computeUnitsConsumed": 6200,
            },
            "transaction": {
                "signatures": [signature],
                "message": {
                    "accountKeys": [
                        {"pubkey": k, "signer": i == 0, "writable": i in (0, 1, 2), "source": "transaction"}
                        for i, k in enumerate(keys)
                    ],
                    "recentBlockhash": str(Signature.from_bytes(hashlib.sha512(signature.encode()).digest()))[:44],
                    "instructions": instructions,
                    "addressTableLookups": [],
                },
            },
        }
        self.transactions.append({"tx": tx, "finalized": finalized, "keys": set(keys), "err": err})
        return signature

    def finalize(self, signature: str):
        for item in self.transactions:
            if item["tx"]["transaction"]["signatures"][0] == signature:
                item["finalized"] = True

    # --- JSON-RPC methods ------------------------------------------------------------------------------

    def answer(self, method, params):
        if method == "getSignaturesForAddress":
            return self._signatures_for_address(params[0], params[1] if len(params) > 1 else {})
        if method == "getTransaction":
            return self._transaction(params[0], params[1] if len(params) > 1 else {})
        raise ValueError(f"unsupported method {method}")

    def _signatures_for_address(self, address, options):
        newest_first = [t for t in reversed(self.transactions) if address in t["keys"]]
        if options.get("commitment") == "finalized":
            newest_first = [t for t in newest_first if t["finalized"]]
        sigs = [t["tx"]["transaction"]["signatures"][0] for t in newest_first]
        if options.get("before") in sigs:
            newest_first = newest_first[sigs.index(options["before"]) + 1 :]
            sigs = sigs[sigs.index(options["before"]) + 1 :]
        if options.get("until") in sigs:
            newest_first = newest_first[: sigs.index(options["until"])]
        return [
            {
                "signature": t["tx"]["transaction"]["signatures"][0],
                "slot": t["tx"]["slot"],
                "err": t["err"],
                "memo": None,
                "blockTime": t["tx"]["blockTime"],
                "confirmationStatus": "finalized" if t["finalized"] else "confirmed",
            }
            for t in newest_first[: options.get("limit", 1000)]
        ]

    def _transaction(self, signature, options):
        for t in self.transactions:
            if t["tx"]["transaction"]["signatures"][0] == signature:
                if options.get("commitment") == "finalized" and not t["finalized"]:
                    return None
                return t["tx"]
        return None
