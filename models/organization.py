"""Departments (nested) and employees."""

from tortoise import fields
from tortoise.models import Model

from models.enums import EmployeeRole


class Department(Model):
    """A department, nested under its `parent`."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    parent: fields.ForeignKeyNullableRelation["Department"] = fields.ForeignKeyField(
        "models.Department", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    # The office's prefecture as JMA codes it (01-47): rules may target the offices hit.
    prefecture = fields.CharField(max_length=2, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "department"
        unique_together = (("parent", "name"),)

    def __str__(self) -> str:
        return self.name


class Employee(Model):
    """A person the company must reach. `code` is the company employee number."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=100)
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "models.Department", related_name="employees", null=True, on_delete=fields.SET_NULL
    )
    email = fields.CharField(max_length=254, null=True)
    role = fields.CharEnumField(EmployeeRole, max_length=16, default=EmployeeRole.MEMBER)
    active = fields.BooleanField(default=True)
    email_enabled = fields.BooleanField(default=True)  # the employee may turn `email` off
    # Preferred language (domain.i18n.LANGUAGES); "" until chosen (/me/, the import) or
    # reported by LIFF: Japanese meanwhile.
    language = fields.CharField(max_length=8, default="")
    password_hash = fields.CharField(max_length=200, null=True)  # the employee page (argon2)
    phone = fields.CharField(max_length=32, default="")  # as imported; shown where allowed
    # Raised by sign-out, a password change or retirement: every older page session ends.
    session_generation = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "employee"

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class EmployeeEmail(Model):
    """A further e-mail address an employee added on their own page, with an on/off."""

    id = fields.IntField(primary_key=True)
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee", related_name="extra_emails", on_delete=fields.CASCADE
    )
    address = fields.CharField(max_length=254)
    enabled = fields.BooleanField(default=True)
    confirmed_at = fields.DatetimeField(null=True)  # no alert goes there before the link
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "employee_email"
        unique_together = (("employee", "address"),)


async def department_subtree_ids(root_ids: list[int]) -> set[int]:
    """Return the given departments and every department nested below them."""
    parents: dict[int, list[int]] = {}
    for dept_id, parent_id in await Department.all().values_list("id", "parent_id"):
        parents.setdefault(parent_id, []).append(dept_id)
    found: set[int] = set()
    stack = list(root_ids)
    while stack:
        dept_id = stack.pop()
        if dept_id in found:
            continue
        found.add(dept_id)
        stack.extend(parents.get(dept_id, []))
    return found
