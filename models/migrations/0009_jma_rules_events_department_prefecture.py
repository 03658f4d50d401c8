from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.jma import JmaEventState, JmaRuleKind
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_sessions_contacts_proxy_answers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='JmaBulletin',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('digest', fields.CharField(unique=True, max_length=64)),
                ('entry_id', fields.CharField(null=True, db_index=True, max_length=500)),
                ('kind', fields.CharField(max_length=8)),
                ('status', fields.CharField(max_length=8)),
                ('info_type', fields.CharField(max_length=8)),
                ('title', fields.CharField(max_length=200)),
                ('event_key', fields.CharField(db_index=True, max_length=200)),
                ('serial', fields.CharField(default='', max_length=16)),
                ('report_time', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('outcome', fields.TextField(default='', unique=False)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'jma_bulletin', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A bulletin received (from the feed or a replay) and what it did.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JmaRule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=100)),
                ('kind', fields.CharEnumField(description='QUAKE: quake\nTSUNAMI: tsunami\nWEATHER: weather', enum_type=JmaRuleKind, max_length=16)),
                ('min_intensity', fields.CharField(null=True, max_length=4)),
                ('areas', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('template', fields.ForeignKeyField('models.Template', source_field='template_id', null=True, db_constraint=True, to_field='id', related_name='jma_rules', on_delete=OnDelete.SET_NULL)),
                ('offices_only', fields.BooleanField(default=False)),
                ('suppress_minutes', fields.IntField(default=720)),
                ('delay_minutes', fields.IntField(default=0)),
                ('drills', fields.BooleanField(default=False)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'jma_rule', 'app': 'models', 'pk_attr': 'id', 'table_description': "A maintainer's rule: which bulletins start which template for whom."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JmaEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=200)),
                ('drill', fields.BooleanField(default=False)),
                ('summary', fields.TextField(default='', unique=False)),
                ('state', fields.CharEnumField(default=JmaEventState.SEEN, description='SEEN: seen\nPENDING: pending\nSTARTED: started\nSUPPRESSED: suppressed\nCANCELLED: cancelled\nNO_TARGET: no_target', enum_type=JmaEventState, max_length=16)),
                ('rule', fields.ForeignKeyField('models.JmaRule', source_field='rule_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.SET_NULL)),
                ('bulletin', fields.ForeignKeyField('models.JmaBulletin', source_field='bulletin_id', null=True, db_constraint=True, to_field='id', related_name='fired_events', on_delete=OnDelete.SET_NULL)),
                ('alert', fields.ForeignKeyField('models.Alert', source_field='alert_id', null=True, db_constraint=True, to_field='id', related_name='jma_events', on_delete=OnDelete.SET_NULL)),
                ('departments', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('withdrawn_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'jma_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One earthquake (its EventID) or special warning, and what its bulletins started.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JmaNotice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('text', fields.TextField(unique=False)),
                ('event', fields.ForeignKeyField('models.JmaEvent', source_field='event_id', null=True, db_constraint=True, to_field='id', related_name='notices', on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(default='', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('groups_done', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'jma_notice', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A message owed to every admin group (an alert started, an aftershock suppressed, a'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Department',
            name='prefecture',
            field=fields.CharField(null=True, max_length=2),
        ),
    ]
