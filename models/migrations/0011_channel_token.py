from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0010_admin_group_name')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ChannelToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel_id', fields.CharField(unique=True, max_length=32)),
                ('token', fields.TextField(unique=False)),
                ('expires_at', fields.FloatField()),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'channel_token', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The current short-lived channel access token of a channel (a secret, valid 15 minutes),'},
            bases=['Model'],
        ),
    ]
