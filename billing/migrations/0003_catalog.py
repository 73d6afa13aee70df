"""The seed's default prices by tier (per 1M tokens) and a starting model catalog, as data."""

from django.db import migrations

# slug, name, description, input $/1M, output $/1M -> nanos per token = $/1M × 1,000
TIERS = [
    ("small", "Small", "up to 7B parameters", 100, 150),
    ("medium", "Medium", "13B to 34B parameters", 300, 500),
    ("large", "Large", "70B parameters and up", 800, 1200),
    ("premium", "Premium", "405B parameters", 2000, 3000),
]

# model id, display name, tier, context length, tokenizer (a name in usage/tokenizers.py, or "")
MODELS = [
    ("llama-3.1-8b-instruct", "Llama 3.1 8B Instruct", "small", 131072, "llama3"),
    ("qwen3-8b", "Qwen3 8B", "small", 32768, "qwen3"),
    ("mistral-7b-instruct", "Mistral 7B Instruct", "small", 32768, ""),
    ("gpt-oss-20b", "gpt-oss 20B", "medium", 131072, "o200k_harmony"),
    ("qwen3-32b", "Qwen3 32B", "medium", 32768, "qwen3"),
    ("llama-3.3-70b-instruct", "Llama 3.3 70B Instruct", "large", 131072, "llama3"),
    ("llama-3.1-405b-instruct", "Llama 3.1 405B Instruct", "premium", 131072, "llama3"),
]


def load(apps, schema_editor):
    Tier = apps.get_model("billing", "Tier")
    CatalogModel = apps.get_model("billing", "CatalogModel")
    tiers = {}
    for order, (slug, name, description, input_price, output_price) in enumerate(TIERS):
        tiers[slug], _ = Tier.objects.update_or_create(
            slug=slug,
            defaults=dict(
                name=name,
                description=description,
                input_price_nanos=input_price,
                output_price_nanos=output_price,
                order=order,
            ),
        )
    for model_id, display_name, tier, context_length, tokenizer in MODELS:
        CatalogModel.objects.update_or_create(
            model_id=model_id,
            defaults=dict(
                display_name=display_name, tier=tiers[tier], context_length=context_length, tokenizer=tokenizer
            ),
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_ledger_triggers")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
