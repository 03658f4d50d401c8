from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

from models.migration_ops import AddField


class Migration(migrations.Migration):
    dependencies = [('models', '0009_jma_rules_events_department_prefecture')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='AdminGroup',
            options={'table': 'admin_group', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A LINE group bound as an admin group (its group ID, and its name when LINE told it).'},
        ),
        AddField(
            model_name='AdminGroup',
            name='name',
            field=fields.CharField(default='', max_length=100),
        ),
    ]
