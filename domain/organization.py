"""The organisation: departments (nested) and employees, and who has not linked LINE."""

from domain.actors import Actor
from domain.audit import audited
from domain.i18n import language_of
from models import Department, Employee, LineAccount


async def add_department(name: str, parent: Department | None = None) -> Department:
    """Create a department under `parent` (None: top level)."""
    return await Department.create(name=name, parent=parent)


async def add_employee(
    code: str, name: str, department: Department | None, email: str | None = None
) -> Employee:
    """Create an active employee."""
    return await Employee.create(code=code, name=name, department=department, email=email)


async def active_employee(code: str) -> Employee | None:
    """The active employee with this employee code as people type it: case does not matter
    (an exact match wins where two codes differ only by case)."""
    code = code.strip()
    if not code or len(code) > 32:
        return None
    found = await Employee.filter(code__iexact=code, active=True).order_by("id").limit(2)
    exact = [employee for employee in found if employee.code == code]
    return exact[0] if exact else (found[0] if len(found) == 1 else None)


async def adopt_reported_language(employee_id: int, reported: str) -> str:
    """Store the language LINE reported for the employee (`liff.getLanguage()`, the LINE
    profile) while they have none of their own; a choice made since is kept. Return the
    language they now have."""
    language = language_of(reported)
    async with audited(Actor.system(), "language_reported", f"employee:{employee_id}") as audit:
        audit.detail = {"language": language}
        if not await Employee.filter(id=employee_id, language="").update(language=language):
            audit.detail = {"language": language, "kept": True}
    employee = await Employee.get(id=employee_id)
    return employee.language


async def unlinked_employees() -> list[Employee]:
    """Active employees whose LINE is not linked yet, by employee code."""
    linked = await LineAccount.filter(employee_id__isnull=False).values_list(
        "employee_id", flat=True
    )
    return await Employee.filter(active=True).exclude(id__in=list(linked)).order_by("code")


async def department_name(department_id: int | None) -> str | None:
    """A department's name, or None when there is none."""
    if department_id is None:
        return None
    department = await Department.get_or_none(id=department_id)
    return department.name if department is not None else None
