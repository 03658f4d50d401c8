from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

from models.answers import recount_answers
from models.migration_ops import AddField


async def count_existing_answers(apps, state_editor) -> None:
    """The counts of every alert already there, from its roster and answers."""
    await recount_answers(state_editor.client, None)


class Migration(migrations.Migration):
    dependencies = [('models', '0014_board')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AnswerCount',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alert', fields.ForeignKeyField('models.Alert', source_field='alert_id', db_constraint=True, to_field='id', related_name='answer_counts', on_delete=OnDelete.CASCADE)),
                ('department_id', fields.IntField(default=0)),
                ('item', fields.CharField(max_length=200)),
                ('choice', fields.CharField(max_length=200)),
                ('shard', fields.IntField(default=0)),
                ('n', fields.IntField(default=0)),
            ],
            options={'table': 'answer_count', 'app': 'models', 'unique_together': (('alert', 'department_id', 'item', 'choice', 'shard'),), 'pk_attr': 'id', 'table_description': "How many of an alert's recipients in one department (of the roster, 0 for none) gave"},
            bases=['Model'],
        ),
        AddField(
            model_name='Answer',
            name='previous_choices',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.RunPython(count_existing_answers, reverse_code=lambda apps, state_editor: None),
    ]
