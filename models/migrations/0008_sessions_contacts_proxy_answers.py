from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

from models.migration_ops import AddField

class Migration(migrations.Migration):
    dependencies = [('models', '0007_line_account_link_notice')]

    initial = False

    operations = [
        AddField(
            model_name='ConsoleUser',
            name='session_generation',
            field=fields.IntField(default=0),
        ),
        AddField(
            model_name='Employee',
            name='session_generation',
            field=fields.IntField(default=0),
        ),
        AddField(
            model_name='Employee',
            name='phone',
            field=fields.CharField(default='', max_length=32),
        ),
        AddField(
            model_name='EmployeeEmail',
            name='confirmed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # Addresses added before confirmation existed were added by the signed-in employee:
        # they keep receiving alerts.
        ops.RunSQL(
            "UPDATE employee_email SET confirmed_at = created_at",
            reverse_sql="",
        ),
        AddField(
            model_name='Answer',
            name='entered_by',
            field=fields.CharField(null=True, max_length=100),
        ),
        AddField(
            model_name='AnswerRevision',
            name='entered_by',
            field=fields.CharField(null=True, max_length=100),
        ),
    ]
