"""OpenAPI schema tweaks: unique names for nested Input/OutputSerializers, and API keys as bearer auth."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema


class AutoSchema(BaseAutoSchema):
    def get_serializer_name(self, serializer, direction):
        # Every API nests an InputSerializer and an OutputSerializer (the style guide's shape); name
        # their components after the view ("KeyListApiOutput"), or they all collide as "Output".
        qualname = serializer.__class__.__qualname__
        if "." in qualname and "<locals>" not in qualname:
            return qualname.replace(".", "")
        return super().get_serializer_name(serializer, direction)


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.APIKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "infer_sk_<public id>_<secret>",
            "description": "An API key from the portal's API keys page.",
        }
