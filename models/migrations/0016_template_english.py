from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

from models.migration_ops import AddField, AlterField


class Migration(migrations.Migration):
    dependencies = [('models', '0015_answer_counts')]

    initial = False

    operations = [
        # '' is "not chosen yet": LIFF's reported language fills it once.
        AlterField(
            model_name='Employee',
            name='language',
            field=fields.CharField(default='', max_length=8),
        ),
        # Until now every employee got 'ja' by default and nothing read it: only a choice the
        # employee made on their own page stays; the others become "not chosen yet".
        ops.RunSQL(
            "UPDATE employee SET language = '' WHERE language = 'ja' AND code NOT IN"
            " (SELECT actor FROM audit_entry WHERE action = 'language_set' AND via = 'me'"
            " AND result = 'ok')",
            reverse_sql="",
        ),
        AddField(
            model_name='Template',
            name='title_en',
            field=fields.CharField(default='', max_length=200),
        ),
        AddField(
            model_name='Template',
            name='message_en',
            field=fields.TextField(default=''),
        ),
        AddField(
            model_name='Alert',
            name='title_en',
            field=fields.CharField(default='', max_length=200),
        ),
        AddField(
            model_name='Alert',
            name='message_en',
            field=fields.TextField(default=''),
        ),
        # The language a LINE message is rendered in, frozen when the delivery is written.
        AddField(
            model_name='Delivery',
            name='language',
            field=fields.CharField(default='ja', max_length=8),
        ),
    ]
