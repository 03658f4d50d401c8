from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import DeliveryKind, FamilyStatus
from tortoise.fields.base import OnDelete
from tortoise import fields

from models.migration_ops import AddField, AlterField


class Migration(migrations.Migration):
    dependencies = [('models', '0011_channel_token')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FamilyMember',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('employee', fields.ForeignKeyField('models.Employee', source_field='employee_id', db_constraint=True, to_field='id', related_name='family', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('relation', fields.CharField(max_length=50)),
                ('email', fields.CharField(null=True, max_length=254)),
                ('email_confirmed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('line_user_id', fields.CharField(null=True, unique=True, max_length=64)),
                ('link_code_hash', fields.CharField(null=True, max_length=200)),
                ('link_code_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('linked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'family_member', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A family member of an employee: a name and relation, optionally an e-mail address'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FamilyAnswer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alert', fields.ForeignKeyField('models.Alert', source_field='alert_id', db_constraint=True, to_field='id', related_name='family_answers', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.FamilyMember', source_field='member_id', db_constraint=True, to_field='id', related_name='answers', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(description='SAFE: safe\nINJURED: injured\nUNKNOWN: unknown', enum_type=FamilyStatus, max_length=16)),
                ('message', fields.TextField(default='', unique=False)),
                ('channel', fields.CharField(max_length=16)),
                ('by_employee', fields.BooleanField(default=False)),
                ('revision', fields.IntField(default=1)),
                ('answered_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'family_answer', 'app': 'models', 'unique_together': (('alert', 'member'),), 'pk_attr': 'id', 'table_description': 'A family member current status for an alert, given by them or by their employee.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FamilyAnswerRevision',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('answer', fields.ForeignKeyField('models.FamilyAnswer', source_field='answer_id', db_constraint=True, to_field='id', related_name='revisions', on_delete=OnDelete.CASCADE)),
                ('revision', fields.IntField()),
                ('status', fields.CharEnumField(description='SAFE: safe\nINJURED: injured\nUNKNOWN: unknown', enum_type=FamilyStatus, max_length=16)),
                ('message', fields.TextField(default='', unique=False)),
                ('channel', fields.CharField(max_length=16)),
                ('by_employee', fields.BooleanField(default=False)),
                ('answered_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'family_answer_revision', 'app': 'models', 'unique_together': (('answer', 'revision'),), 'pk_attr': 'id', 'table_description': 'Every family answer ever given, kept when a later one replaces it.'},
            bases=['Model'],
        ),
        AddField(
            model_name='Alert',
            name='family',
            field=fields.BooleanField(default=False),
        ),
        AlterField(
            model_name='AlertRound',
            name='kind',
            field=fields.CharEnumField(default=DeliveryKind.REMINDER, description='ALERT: alert\nREMINDER: reminder\nFAMILY: family', enum_type=DeliveryKind, max_length=16),
        ),
        AlterField(
            model_name='Delivery',
            name='kind',
            field=fields.CharEnumField(default=DeliveryKind.ALERT, description='ALERT: alert\nREMINDER: reminder\nFAMILY: family', enum_type=DeliveryKind, max_length=16),
        ),
        AddField(
            model_name='OrganizationSettings',
            name='family_visible',
            field=fields.BooleanField(default=False),
        ),
        AddField(
            model_name='Template',
            name='family',
            field=fields.BooleanField(default=False),
        ),
    ]
