from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import BatchStatus, DeliveryKind
from tortoise.fields.base import OnDelete
from tortoise import fields

from models.migration_ops import AddField, DropForeignKey

class Migration(migrations.Migration):
    dependencies = [('models', '0016_template_english')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DeliveryBatch',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alert', fields.ForeignKeyField('models.Alert', source_field='alert_id', db_constraint=True, to_field='id', related_name='delivery_batches', on_delete=OnDelete.CASCADE)),
                ('round', fields.IntField(default=0)),
                ('kind', fields.CharEnumField(default=DeliveryKind.ALERT, description='ALERT: alert\nREMINDER: reminder\nFAMILY: family\nBOARD: board', enum_type=DeliveryKind, max_length=16)),
                ('number', fields.IntField()),
                ('render_key', fields.CharField(default='', max_length=32)),
                ('first_id', fields.IntField()),
                ('last_id', fields.IntField()),
                ('status', fields.CharEnumField(default=BatchStatus.PENDING, db_index=True, description='PENDING: pending\nSENDING: sending\nACCEPTED: accepted\nDONE: done', enum_type=BatchStatus, max_length=16)),
                ('batch_key', fields.CharField(null=True, max_length=36)),
                ('attempts', fields.IntField(default=0)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'delivery_batch', 'app': 'models', 'unique_together': (('alert', 'round', 'number'),), 'pk_attr': 'id', 'table_description': 'One multicast of an alert round: its batched LINE rows with an id from `first_id` to'},
            bases=['Model'],
        ),
        DropForeignKey(
            model_name='AlertRecipient',
            name='alert',
            field=fields.ForeignKeyField('models.Alert', source_field='alert_id', db_constraint=False, to_field='id', related_name='recipients', on_delete=OnDelete.CASCADE),
        ),
        DropForeignKey(
            model_name='AlertRecipient',
            name='department',
            field=fields.ForeignKeyField('models.Department', source_field='department_id', null=True, db_constraint=False, to_field='id', related_name='alert_recipients', on_delete=OnDelete.SET_NULL),
        ),
        DropForeignKey(
            model_name='AlertRecipient',
            name='employee',
            field=fields.ForeignKeyField('models.Employee', source_field='employee_id', db_constraint=False, to_field='id', related_name='alert_recipients', on_delete=OnDelete.CASCADE),
        ),
        DropForeignKey(
            model_name='Delivery',
            name='alert',
            field=fields.ForeignKeyField('models.Alert', source_field='alert_id', db_constraint=False, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE),
        ),
        DropForeignKey(
            model_name='Delivery',
            name='employee',
            field=fields.ForeignKeyField('models.Employee', source_field='employee_id', db_constraint=False, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE),
        ),
        AddField(
            model_name='Delivery',
            name='batched',
            field=fields.BooleanField(default=False),
        ),
    ]
