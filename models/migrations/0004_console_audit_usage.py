from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.enums import ConsoleRole, EmployeeRole
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

from models.migration_ops import AddField


class Migration(migrations.Migration):
    dependencies = [('models', '0003_link_tokens_throttle_inbox_retention')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('via', fields.CharField(max_length=16)),
                ('actor', fields.CharField(max_length=100)),
                ('action', fields.CharField(max_length=64)),
                ('target', fields.CharField(default='', max_length=200)),
                ('result', fields.CharField(default='ok', max_length=16)),
                ('detail', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'audit_entry', 'app': 'models', 'indexes': [Index(fields=['at']), Index(fields=['actor', 'at'])], 'pk_attr': 'id', 'table_description': 'One action: sign-ins, alerts started and closed, reminders, exports, imports, setting'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConsoleUser',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('login', fields.CharField(unique=True, max_length=64)),
                ('name', fields.CharField(max_length=100)),
                ('password_hash', fields.CharField(max_length=200)),
                ('role', fields.CharEnumField(description='SUPERVISOR: supervisor\nSENDER: sender\nMAINTAINER: maintainer', enum_type=ConsoleRole, max_length=16)),
                ('active', fields.BooleanField(default=True)),
                ('departments', fields.ManyToManyField('models.Department', unique=True, db_constraint=True, through='console_user_department', forward_key='department_id', backward_key='console_user_id', related_name='console_users', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'console_user', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Someone who signs in to the web console. A supervisor sees only `departments` (and'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrganizationSettings',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('contact_info_viewable', fields.BooleanField(default=False)),
                ('monthly_pack', fields.IntField(default=3000)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'organization_settings', 'app': 'models', 'pk_attr': 'id', 'table_description': "The organisation's settings (one row): 連絡先情報閲覧可 and the monthly message pack."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UsageDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField(unique=True)),
                ('messages', fields.IntField(default=0)),
            ],
            options={'table': 'usage_day', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Messages LINE accepted for billing on one day (Japan time). A multicast counts each'},
            bases=['Model'],
        ),
        AddField(
            model_name='Employee',
            name='role',
            field=fields.CharEnumField(default=EmployeeRole.MEMBER, description='MEMBER: member\nSENDER: sender', enum_type=EmployeeRole, max_length=16),
        ),
    ]
