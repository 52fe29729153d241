"""A local Stripe stand-in for tests and the demo: Checkout Sessions and signed webhooks."""

from vpsshop.stripe_standin.server import StripeStandIn, parse_form, sign

__all__ = ["StripeStandIn", "parse_form", "sign"]
