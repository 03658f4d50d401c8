"""One-time registration codes and account-link nonces."""

from tortoise import fields
from tortoise.models import Model

from models.organization import Employee


class RegistrationCode(Model):
    """A one-time code (stored as an argon2 hash) an employee uses to link LINE."""

    id = fields.IntField(primary_key=True)
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee", related_name="registration_codes", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=200)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    revoked = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "registration_code"


class LinkToken(Model):
    """An account-link token the bot itself obtained from LINE for one user (stored as a
    SHA-256 hash): the link page accepts only these, unexpired and unused."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user_id = fields.CharField(max_length=64, db_index=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "link_token"


class LinkNonce(Model):
    """A single-use account-link nonce, bound to the employee who signed in."""

    id = fields.IntField(primary_key=True)
    nonce_hash = fields.CharField(max_length=64, unique=True)
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee", related_name="link_nonces", on_delete=fields.CASCADE
    )
    registration_code: fields.ForeignKeyRelation[RegistrationCode] = fields.ForeignKeyField(
        "models.RegistrationCode", related_name="nonces", on_delete=fields.CASCADE
    )
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "link_nonce"
