from tortoise import migrations
from tortoise import fields

from models.migration_ops import AddField


class Migration(migrations.Migration):
    dependencies = [('models', '0012_family')]

    initial = False

    operations = [
        AddField(
            model_name='ConsoleUser',
            name='language',
            field=fields.CharField(default='ja', max_length=8),
        ),
    ]
