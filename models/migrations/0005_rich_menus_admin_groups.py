from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_console_audit_usage')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AdminGroup',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('group_id', fields.CharField(unique=True, max_length=64)),
                ('bound_by', fields.CharField(max_length=100)),
                ('bound_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'admin_group', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A LINE group bound as an admin group (only its group ID is kept).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GroupBindCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code_hash', fields.CharField(max_length=200)),
                ('created_by', fields.CharField(max_length=100)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_by_group', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'group_bind_code', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A one-time code (stored as an argon2 hash) that binds one group, until it expires.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PendingCommand',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('group_id', fields.CharField(max_length=64)),
                ('user_id', fields.CharField(max_length=64)),
                ('employee', fields.ForeignKeyField('models.Employee', source_field='employee_id', db_constraint=True, to_field='id', related_name='pending_commands', on_delete=OnDelete.CASCADE)),
                ('command', fields.CharField(max_length=16)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'pending_command', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A command waiting for its 実行/取消 tap: only the requester, once, before it expires.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RichMenu',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(unique=True, max_length=16)),
                ('rich_menu_id', fields.CharField(max_length=64)),
                ('digest', fields.CharField(max_length=64)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'rich_menu', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The LINE rich menu currently serving one role (`unlinked` or `linked`), and the digest'},
            bases=['Model'],
        ),
    ]
