from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_delivery_media_employee_page_rate_buckets')]

    initial = False

    operations = [
        ops.AddField(
            model_name='LineAccount',
            name='link_notice_owed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
