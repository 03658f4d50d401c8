from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.enums import DeliveryKind
from tortoise.fields.base import OnDelete
from tortoise import fields

from models.migration_ops import AlterField

class Migration(migrations.Migration):
    dependencies = [('models', '0013_console_user_language')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BoardPost',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alert', fields.ForeignKeyField('models.Alert', source_field='alert_id', db_constraint=True, to_field='id', related_name='board_posts', on_delete=OnDelete.CASCADE)),
                ('author', fields.CharField(max_length=100)),
                ('body', fields.TextField(unique=False)),
                ('departments', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('replies_allowed', fields.BooleanField(default=False)),
                ('pushed', fields.BooleanField(default=False)),
                ('round', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'board_post', 'app': 'models', 'pk_attr': 'id', 'table_description': "A follow-up message posted to the board of an alert by a sender or supervisor."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BoardReply',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('post', fields.ForeignKeyField('models.BoardPost', source_field='post_id', db_constraint=True, to_field='id', related_name='replies', on_delete=OnDelete.CASCADE)),
                ('employee', fields.ForeignKeyField('models.Employee', source_field='employee_id', db_constraint=True, to_field='id', related_name='board_replies', on_delete=OnDelete.CASCADE)),
                ('body', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'board_reply', 'app': 'models', 'pk_attr': 'id', 'table_description': "A reply of an employee to a board post (only posts that allow replies take them)."},
            bases=['Model'],
        ),
        AlterField(
            model_name='AlertRound',
            name='kind',
            field=fields.CharEnumField(default=DeliveryKind.REMINDER, description='ALERT: alert\nREMINDER: reminder\nFAMILY: family\nBOARD: board', enum_type=DeliveryKind, max_length=16),
        ),
        AlterField(
            model_name='Delivery',
            name='kind',
            field=fields.CharEnumField(default=DeliveryKind.ALERT, description='ALERT: alert\nREMINDER: reminder\nFAMILY: family\nBOARD: board', enum_type=DeliveryKind, max_length=16),
        ),
    ]
