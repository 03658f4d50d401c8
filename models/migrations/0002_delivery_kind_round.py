from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import DeliveryKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

from models.migration_ops import AddField, RemoveUniqueTogether


class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AlertRound',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alert', fields.ForeignKeyField('models.Alert', source_field='alert_id', db_constraint=True, to_field='id', related_name='rounds', on_delete=OnDelete.CASCADE)),
                ('round', fields.IntField()),
                ('kind', fields.CharEnumField(default=DeliveryKind.REMINDER, description='ALERT: alert\nREMINDER: reminder', enum_type=DeliveryKind, max_length=16)),
                ('message', fields.TextField(default='', unique=False)),
                ('sender_name', fields.CharField(max_length=100)),
                ('recipients', fields.IntField(default=0)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'alert_round', 'app': 'models', 'unique_together': (('alert', 'round'),), 'pk_attr': 'id', 'table_description': 'A reminder round of an alert (二次連絡): who asked, when, and the follow-up message.'},
            bases=['Model'],
        ),
        AddField(
            model_name='Delivery',
            name='kind',
            field=fields.CharEnumField(default=DeliveryKind.ALERT, description='ALERT: alert\nREMINDER: reminder', enum_type=DeliveryKind, max_length=16),
        ),
        AddField(
            model_name='Delivery',
            name='round',
            field=fields.IntField(default=0),
        ),
        RemoveUniqueTogether(
            model_name='Delivery',
            name=None,
            fields=['alert', 'employee', 'medium'],
        ),
        ops.AddConstraint(
            model_name='Delivery',
            constraint=UniqueConstraint(fields=('alert', 'employee', 'medium', 'round'), name=None),
        ),
    ]
