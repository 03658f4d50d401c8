from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import DeliveryStatus, EmailMode
from tortoise.fields.base import OnDelete
from tortoise import fields

from models.migration_ops import AddField, AlterField, RemoveUniqueTogether
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0005_rich_menus_admin_groups')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EmployeeEmail',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('employee', fields.ForeignKeyField('models.Employee', source_field='employee_id', db_constraint=True, to_field='id', related_name='extra_emails', on_delete=OnDelete.CASCADE)),
                ('address', fields.CharField(max_length=254)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'employee_email', 'app': 'models', 'unique_together': (('employee', 'address'),), 'pk_attr': 'id', 'table_description': 'A further e-mail address an employee added on their own page, with an on/off.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RateBucket',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('endpoint', fields.CharField(unique=True, max_length=32)),
                ('tokens', fields.FloatField()),
                ('refilled_at', fields.FloatField()),
            ],
            options={'table': 'rate_bucket', 'app': 'models', 'pk_attr': 'id', 'table_description': 'How many requests an endpoint may still make now (`tokens`, refilled at the'},
            bases=['Model'],
        ),
        AddField(
            model_name='Alert',
            name='email_mode',
            field=fields.CharEnumField(default=EmailMode.BOTH, description='BOTH: both\nFALLBACK: fallback', enum_type=EmailMode, max_length=16),
        ),
        AddField(
            model_name='Alert',
            name='fallback_delay_minutes',
            field=fields.IntField(default=30),
        ),
        AddField(
            model_name='Alert',
            name='follow_up_message',
            field=fields.TextField(default='', unique=False),
        ),
        AddField(
            model_name='Alert',
            name='line_halted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        AddField(
            model_name='Alert',
            name='line_halted_reason',
            field=fields.TextField(null=True, unique=False),
        ),
        AddField(
            model_name='Alert',
            name='next_reminder_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        AddField(
            model_name='Alert',
            name='reminder_interval_minutes',
            field=fields.IntField(default=0),
        ),
        AddField(
            model_name='Alert',
            name='reminder_max',
            field=fields.IntField(default=0),
        ),
        AddField(
            model_name='Alert',
            name='scheduled_reminders',
            field=fields.IntField(default=0),
        ),
        RemoveUniqueTogether(
            model_name='Delivery',
            name=None,
            fields=['alert', 'employee', 'medium', 'round'],
        ),
        AlterField(
            model_name='Delivery',
            name='status',
            field=fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: pending\nSENDING: sending\nSENT: sent\nFAILED: failed\nHELD: held', enum_type=DeliveryStatus, max_length=16),
        ),
        ops.AddConstraint(
            model_name='Delivery',
            constraint=UniqueConstraint(fields=('alert', 'employee', 'medium', 'round', 'address'), name=None),
        ),
        AddField(
            model_name='Employee',
            name='email_enabled',
            field=fields.BooleanField(default=True),
        ),
        AddField(
            model_name='Employee',
            name='language',
            field=fields.CharField(default='ja', max_length=8),
        ),
        AddField(
            model_name='Employee',
            name='password_hash',
            field=fields.CharField(null=True, max_length=200),
        ),
        AddField(
            model_name='OrganizationSettings',
            name='employee_passwords',
            field=fields.BooleanField(default=True),
        ),
        AddField(
            model_name='Template',
            name='email_mode',
            field=fields.CharEnumField(default=EmailMode.BOTH, description='BOTH: both\nFALLBACK: fallback', enum_type=EmailMode, max_length=16),
        ),
        AddField(
            model_name='Template',
            name='fallback_delay_minutes',
            field=fields.IntField(default=30),
        ),
        AddField(
            model_name='Template',
            name='follow_up_message',
            field=fields.TextField(default='', unique=False),
        ),
        AddField(
            model_name='Template',
            name='reminder_interval_minutes',
            field=fields.IntField(default=0),
        ),
        AddField(
            model_name='Template',
            name='reminder_max',
            field=fields.IntField(default=0),
        ),
    ]
