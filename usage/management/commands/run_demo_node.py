"""`python manage.py run_demo_node --port N`: serve the OpenAI-compatible development node (usage/demo_node.py)."""

import uvicorn
from django.core.management.base import BaseCommand

from usage.demo_node import DemoNode, DemoNodeConfig


class Command(BaseCommand):
    help = "Serve an OpenAI-compatible development node that answers deterministically and reports usage."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--model", action="append", default=[], help="a model id it serves (repeatable)")
        parser.add_argument("--latency-ms", type=int, default=0, help="delay before the first token")
        parser.add_argument("--tokens-per-second", type=float, default=0, help="generation speed; 0 = instant")
        parser.add_argument("--failure-rate", type=float, default=0.0, help="share of requests failing with a 500")
        parser.add_argument("--inflate-usage", type=float, default=1.0, help="multiply the reported usage")
        parser.add_argument("--die-after-tokens", type=int, default=0, help="drop the connection after N tokens")
        parser.add_argument("--default-max-tokens", type=int, default=0, help="answer length without max_tokens")
        parser.add_argument("--tokenizer", default="", help="llama3, qwen3 or o200k_harmony (default: by model)")

    def handle(self, *args, **options):
        config = DemoNodeConfig(
            models=tuple(options["model"]),
            latency_ms=options["latency_ms"],
            tokens_per_second=options["tokens_per_second"],
            failure_rate=options["failure_rate"],
            inflate_usage=options["inflate_usage"],
            die_after_tokens=options["die_after_tokens"],
            default_max_tokens=options["default_max_tokens"],
            tokenizer=options["tokenizer"],
        )
        self.stdout.write(f"Demo node on http://{options['host']}:{options['port']}/v1")
        uvicorn.run(DemoNode(config), host=options["host"], port=options["port"], log_level="warning", access_log=False)
