"""Job tokens become scoped keys kept on the job; compute domains get a resource ("run" privilege).

The full API tokens that running jobs held are deleted (they would outlive their job).
Existing domains stay usable by every registered user (the Public group gets "run"),
as they were; host networking now needs the new 'trusted' flag.
"""

import django.db.models.deletion
from django.db import migrations, models


def revoke_old_job_tokens(apps, schema_editor):
    ComputeJob = apps.get_model("compute", "ComputeJob")
    ApiToken = apps.get_model("accounts", "ApiToken")
    ApiToken.objects.filter(pk__in=ComputeJob.objects.exclude(token=None).values("token_id")).delete()


def give_domains_resources(apps, schema_editor):
    ComputeDomain = apps.get_model("compute", "ComputeDomain")
    Resource = apps.get_model("access", "Resource")
    Group = apps.get_model("access", "Group")
    Privilege = apps.get_model("access", "Privilege")
    domains = list(ComputeDomain.objects.filter(resource=None))
    if not domains:
        return
    public, _ = Group.objects.get_or_create(kind="public", defaults={"name": "Public"})
    for domain in domains:
        domain.resource = Resource.objects.create(type="domain", name=domain.name)
        domain.save(update_fields=["resource"])
        Privilege.objects.create(resource=domain.resource, action="run", group=public)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('access', '0002_group_name_unique_in_any_case'),
        ('compute', '0002_job_watch'),
    ]

    operations = [
        migrations.RunPython(revoke_old_job_tokens, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='computejob',
            name='token',
        ),
        migrations.AddField(
            model_name='computedomain',
            name='resource',
            field=models.OneToOneField(blank=True, help_text='Who may run jobs here is the "run" privilege of this resource; a domain without one takes no jobs.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='compute_domain', to='access.resource'),
        ),
        migrations.AddField(
            model_name='computedomain',
            name='trusted',
            field=models.BooleanField(default=False, help_text="Only for domains whose every user is trusted with the host's network: allows network 'host'."),
        ),
        migrations.AddField(
            model_name='computejob',
            name='token_hash',
            field=models.CharField(blank=True, db_index=True, help_text="The running job's token (apps/compute/tokens.py).", max_length=64),
        ),
        migrations.AlterField(
            model_name='computedomain',
            name='network',
            field=models.CharField(blank=True, help_text="Docker network for jobs that ask for one; empty: jobs never get a network. Jobs reach the portal through its gateway socket without any network. 'host' (or any network reaching the host) needs 'trusted'.", max_length=100),
        ),
        migrations.RunPython(give_domains_resources, migrations.RunPython.noop),
    ]
