"""Request and response schemas of the JSON API (pydantic), the source of its OpenAPI.

A request model checks what the route itself used to check (the body's fields, unknown
fields, ids); a field whose value a service checks (amounts, names, URLs: the same
checks the admin forms use) is ``Checked``: documented with its type here, its value
left to the service, so each refusal keeps the code and message DESIGN.md gives it.
Each request model names the error code of each of its fields in ``error_codes``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

# (code, message) of the ValidationError a field's bad value is answered with.
FieldError = tuple[str, str]
UNKNOWN_FIELD = "unknown_field"


def Checked(schema: dict[str, Any]) -> Any:  # noqa: N802  (reads as a type)
    """A field documented as ``schema`` whose value the service checks."""
    return Annotated[Any, WithJsonSchema(schema)]


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
UUID_STRING = {"type": "string", "format": "uuid"}


def _tidy_schema(schema: dict[str, Any], model: type) -> None:
    # An optional field's None default is no value of its documented type.
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]
    if getattr(model, "refused_by_service", False):
        schema["additionalProperties"] = False


class RequestModel(BaseModel):
    """A JSON object body; unknown fields are refused unless a model allows them."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_tidy_schema)
    error_codes: ClassVar[dict[str, FieldError]] = {}
    # Unknown fields pass the model and the service refuses them, with its own message.
    refused_by_service: ClassVar[bool] = False


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(ResponseModel):
    """Every refusal: a stable code and a sentence for people."""

    error: str
    message: str


# --- auth ----------------------------------------------------------------------------


class TokenRequest(RequestModel):
    # Wrong credentials of any shape are one answer, 401 invalid_credentials; the
    # two-factor code and the token's name are checked by their services.
    model_config = ConfigDict(extra="allow", strict=True)
    email: Checked({"type": "string", "format": "email"}) = None
    password: Checked(STRING) = None
    otp: Checked(STRING) = None
    name: Checked(STRING) = None


class PasswordRequest(RequestModel):
    password: Checked(STRING) = None


class CodeRequest(RequestModel):
    code: Checked(STRING) = None


class PasswordAndCodeRequest(RequestModel):
    password: Checked(STRING) = None
    code: Checked(STRING) = None


class SuspendRequest(RequestModel):
    error_codes: ClassVar[dict[str, FieldError]] = {
        "stop_sessions": ("invalid_stop_sessions", "stop_sessions must be true or false."),
    }
    reason: Checked(STRING) = None
    stop_sessions: bool = False


class TokenBody(ResponseModel):
    token: str


class MeBody(ResponseModel):
    id: uuid.UUID
    email: str
    coins: int
    is_admin: bool
    email_verified: bool


# --- buyer ---------------------------------------------------------------------------


def _product_id(value: str) -> uuid.UUID:
    return uuid.UUID(value.strip())


class PurchaseRequest(RequestModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    error_codes: ClassVar[dict[str, FieldError]] = {
        "product_id": ("invalid_product_id", "product_id must be a product's id.")
    }
    product_id: Annotated[str, WithJsonSchema(UUID_STRING)]

    @field_validator("product_id")
    @classmethod
    def _parse_id(cls, value: str) -> str:
        return str(_product_id(value))


class Product(ResponseModel):
    id: uuid.UUID
    name: str
    price_coins: int
    provision_action: int
    duration_minutes: int | None
    available: bool
    extend_minutes: int | None
    extend_price_coins: int | None
    max_total_minutes: int | None
    free_slots: int
    waiting: int
    next_slot_expected_at: str | None
    waitlist_entry_id: uuid.UUID | None
    waitlist_position: int | None


class ProductsBody(ResponseModel):
    products: list[Product]


class Credentials(ResponseModel):
    host: str
    port: int
    username: str
    password: str


class Extension(ResponseModel):
    """What one extension of the session buys now."""

    minutes: int
    price_coins: int
    possible: bool
    reason: str | None


SessionStatusName = Literal[
    "pending", "provisioning", "ready", "stopping", "deleted", "expired", "failed", "lost"
]


class Session(ResponseModel):
    id: uuid.UUID
    product_id: uuid.UUID
    product_name: str | None
    status: SessionStatusName
    created_at: str | None
    ready_at: str | None
    expires_at: str | None
    error: str | None
    credentials: Credentials | None
    extension: Extension | None


class SessionBody(ResponseModel):
    session: Session


class SessionsBody(ResponseModel):
    sessions: list[Session]


# --- admin ---------------------------------------------------------------------------


class UsersQuery(BaseModel):
    email: str = Field(default="", description="Part of the email, any case.")


class AdminUser(ResponseModel):
    id: uuid.UUID
    email: str
    coins: int
    is_admin: bool
    created_at: str | None
    suspended: bool
    suspended_reason: str | None
    two_factor: bool


class UsersBody(ResponseModel):
    users: list[AdminUser]


class CoinsRequest(RequestModel):
    error_codes: ClassVar[dict[str, FieldError]] = {
        "op": ("invalid_op", "The operation must be add, sub or set."),
    }
    op: Literal["add", "sub", "set"]
    amount: Checked({"type": "integer", "minimum": 0}) = None
    reason: Checked({"type": "string", "minLength": 1, "maxLength": 500}) = None


class MyTransaction(ResponseModel):
    """A ledger row as its owner sees it."""

    id: int
    delta: int
    balance_after: int
    kind: str
    reason: str
    session_id: uuid.UUID | None
    created_at: str | None


class Transaction(MyTransaction):
    user_id: uuid.UUID
    actor_id: uuid.UUID | None


class UserCoins(ResponseModel):
    id: uuid.UUID
    coins: int


class CoinsBody(ResponseModel):
    user: UserCoins
    transaction: Transaction


class RegisterWorkerRequest(RequestModel):
    name: Checked({"type": "string", "maxLength": 100}) = None
    base_url: Checked({"type": "string", "format": "uri"}) = None
    max_sessions: Checked({"type": "integer", "minimum": 1, "default": 3}) = None
    token: Checked({"type": ["string", "null"]}) = None


class UpdateWorkerRequest(RequestModel):
    model_config = ConfigDict(extra="allow", strict=True)
    refused_by_service: ClassVar[bool] = True  # naming all of them
    name: Checked({"type": "string", "maxLength": 100}) = None
    base_url: Checked({"type": "string", "format": "uri"}) = None
    max_sessions: Checked({"type": "integer", "minimum": 1}) = None
    token: Checked({"type": ["string", "null"]}) = None
    status: Checked({"type": "string", "enum": ["active", "disabled"]}) = None


class Worker(ResponseModel):
    id: uuid.UUID
    name: str
    base_url: str
    status: str
    max_sessions: int
    active_sessions: int
    has_token: bool
    healthy: bool
    consecutive_failures: int
    last_seen_at: str | None
    last_error: str | None
    last_error_at: str | None
    created_at: str | None


class WorkerBody(ResponseModel):
    worker: Worker


class WorkersBody(ResponseModel):
    workers: list[Worker]


class NodeLoginRequest(RequestModel):
    error_codes: ClassVar[dict[str, FieldError]] = {
        "email": ("invalid_email", "email must be an email address."),
        "password": ("invalid_password", "password is required."),
    }
    email: Annotated[str, WithJsonSchema({"type": "string", "format": "email", "maxLength": 254})]
    password: Annotated[str, Field(min_length=1)]

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if "@" not in value or len(value) > 254:
            raise ValueError("not an email address")
        return value.strip()


class NodeLoginBody(ResponseModel):
    ok: bool
    node_status: int
    answer: Any


WORKER_IDS_ERROR: FieldError = ("invalid_worker_ids", "worker_ids must be a list of worker ids.")


class ProductFields(RequestModel):
    error_codes: ClassVar[dict[str, FieldError]] = {"worker_ids": WORKER_IDS_ERROR}
    name: Checked({"type": "string", "minLength": 1, "maxLength": 100}) = None
    price_coins: Checked({"type": "integer", "minimum": 0}) = None
    provision_action: Checked({"type": "integer"}) = None
    duration_minutes: Checked({"type": ["integer", "null"], "minimum": 1}) = None
    is_active: Checked({"type": "boolean"}) = None
    worker_ids: list[str] = Field(default_factory=list, json_schema_extra={"items": UUID_STRING})
    extend_minutes: Checked({"type": ["integer", "null"], "minimum": 1}) = None
    extend_price_coins: Checked({"type": ["integer", "null"], "minimum": 1}) = None
    max_total_minutes: Checked({"type": ["integer", "null"], "minimum": 1}) = None


class UpdateProductRequest(ProductFields):
    model_config = ConfigDict(extra="allow", strict=True)
    refused_by_service: ClassVar[bool] = True


class AdminProduct(ResponseModel):
    id: uuid.UUID
    name: str
    price_coins: int
    provision_action: int
    duration_minutes: int | None
    is_active: bool
    worker_ids: list[uuid.UUID]
    available: bool
    extend_minutes: int | None
    extend_price_coins: int | None
    max_total_minutes: int | None


class AdminProductBody(ResponseModel):
    product: AdminProduct


class AdminProductsBody(ResponseModel):
    products: list[AdminProduct]


# --- accounts: two-factor sign-in, tokens, activity, suspension ------------------------


class TwoFactorSetupBody(ResponseModel):
    secret: str
    otpauth_uri: str


class RecoveryCodesBody(ResponseModel):
    recovery_codes: list[str]


class TwoFactorOffBody(ResponseModel):
    two_factor: bool


class ApiTokenItem(ResponseModel):
    """A token as its owner sees it (never its value)."""

    id: uuid.UUID
    name: str | None
    created_at: str | None
    last_used_at: str | None
    expires_at: str | None
    current: bool


class TokensBody(ResponseModel):
    tokens: list[ApiTokenItem]


class PageQuery(BaseModel):
    limit: int | None = Field(default=None, description="1 to 100 rows.")
    before: int | None = Field(default=None, description="Only rows with a smaller id.")


class ActivityEventItem(ResponseModel):
    id: int
    kind: str
    created_at: str | None
    ip: str | None
    user_agent: str | None
    detail: str | None


class ActivityBody(ResponseModel):
    events: list[ActivityEventItem]


class AdminUserBody(ResponseModel):
    user: AdminUser


class SuspendBody(ResponseModel):
    user: AdminUser
    stopped_sessions: list[uuid.UUID]


# --- billing -------------------------------------------------------------------------


class CheckoutRequest(RequestModel):
    # Other fields are ignored, as they were before the model.
    model_config = ConfigDict(extra="ignore", strict=True)
    pack_id: Checked(UUID_STRING) = None


class CoinPackRequest(RequestModel):
    model_config = ConfigDict(extra="allow", strict=True)
    refused_by_service: ClassVar[bool] = True
    name: Checked({"type": "string", "minLength": 1, "maxLength": 120}) = None
    coins: Checked({"type": "integer", "minimum": 1}) = None
    price_minor: Checked({"type": "integer", "minimum": 1, "maximum": 99_999_999}) = None
    currency: Checked({"type": "string", "pattern": "^[A-Za-z]{3}$"}) = None
    is_active: Checked({"type": "boolean", "default": True}) = None


class CoinPackItem(ResponseModel):
    id: uuid.UUID
    name: str
    coins: int
    price_minor: int
    currency: str
    is_active: bool


class CoinPackBody(ResponseModel):
    pack: CoinPackItem


class CoinPacksBody(ResponseModel):
    packs: list[CoinPackItem]


class PaymentItem(ResponseModel):
    id: uuid.UUID
    status: str
    coins: int
    amount_minor: int
    currency: str
    checkout_url: str | None
    pack_id: uuid.UUID | None
    coins_reversed: int
    coins_unrecovered: int
    created_at: str | None
    paid_at: str | None


class PaymentBody(ResponseModel):
    payment: PaymentItem


class PaymentsBody(ResponseModel):
    payments: list[PaymentItem]


class StripeEvent(RequestModel):
    """A Stripe event, read as raw bytes: its ``Stripe-Signature`` header signs them."""

    model_config = ConfigDict(extra="allow", strict=True)
    id: Checked(STRING) = None
    type: Checked(STRING) = None
    data: Checked({"type": "object"}) = None


class WebhookBody(ResponseModel):
    received: bool
    outcome: str


# --- vouchers ------------------------------------------------------------------------


class RedeemRequest(RequestModel):
    code: Checked(STRING) = None


class RedeemBody(ResponseModel):
    coins: int
    transaction: MyTransaction


class TransactionsBody(ResponseModel):
    transactions: list[MyTransaction]


class CreateVouchersRequest(RequestModel):
    coins: Checked({"type": "integer", "minimum": 1}) = None
    max_redemptions: Checked({"type": "integer", "minimum": 1, "default": 1}) = None
    expires_at: Checked({"type": ["string", "null"], "format": "date-time"}) = None
    code: Checked({"type": ["string", "null"]}) = None
    count: Checked({"type": "integer", "minimum": 1, "default": 1}) = None
    note: Checked({"type": ["string", "null"]}) = None


class VouchersQuery(BaseModel):
    code: str = Field(default="", description="A voucher code (exact, normalised).")
    batch_id: str = Field(default="", description="The id of a batch.")
    limit: int | None = Field(default=None, description="1 to 100 vouchers.")


class VoucherItem(ResponseModel):
    id: uuid.UUID
    code: str
    coins: int
    max_redemptions: int
    redemptions: int
    expires_at: str | None
    is_active: bool
    note: str | None
    batch_id: uuid.UUID
    created_at: str | None


class Redemption(ResponseModel):
    user_id: uuid.UUID
    email: str
    transaction_id: int
    created_at: str | None


class VoucherBody(ResponseModel):
    voucher: VoucherItem


class VoucherDetailBody(ResponseModel):
    voucher: VoucherItem
    redemptions: list[Redemption]


class VouchersBody(ResponseModel):
    vouchers: list[VoucherItem]


# --- a session's time ----------------------------------------------------------------


class WaitlistEntryItem(ResponseModel):
    id: uuid.UUID
    product_id: uuid.UUID
    product_name: str | None
    position: int | None
    status: str
    created_at: str | None
    expires_at: str | None
    session_id: uuid.UUID | None
    reason: str | None


class WaitlistEntryBody(ResponseModel):
    entry: WaitlistEntryItem


class WaitlistBody(ResponseModel):
    entries: list[WaitlistEntryItem]


# --- mail ----------------------------------------------------------------------------


class PasswordResetRequest(RequestModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    email: Checked({"type": "string", "format": "email"}) = None


class ResetConfirmRequest(RequestModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    token: Checked(STRING) = None
    password: Checked(STRING) = None


class MessageBody(ResponseModel):
    message: str


NOTIFICATION_ERROR: FieldError = ("invalid_notifications", "Each setting is true or false.")


class NotificationsRequest(RequestModel):
    # Unknown names get the route's own invalid_notifications answer.
    model_config = ConfigDict(extra="allow", strict=True)
    refused_by_service: ClassVar[bool] = True
    error_codes: ClassVar[dict[str, FieldError]] = {
        "servers": NOTIFICATION_ERROR,
        "coins": NOTIFICATION_ERROR,
    }
    # No default of their type: a setting left out stays as it is, a null is refused.
    servers: bool = None
    coins: bool = None


class Notifications(ResponseModel):
    servers: bool
    coins: bool


class NotificationsBody(ResponseModel):
    notifications: Notifications


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
