"""The AMI's users file (net/amiusers.py): manager.conf's shape; a secret is never shown."""

import pytest

from callcenter.net import amiwire
from callcenter.net.amiusers import AmiUsersError, parse_users
from support import AMI_USERS


def test_the_users_file_has_manager_conf_shape_and_never_shows_a_secret():
    users = parse_users(AMI_USERS)
    assert sorted(users) == ["admin", "caller", "viewer"]
    assert users["admin"].write == amiwire.ALL and users["viewer"].read == amiwire.AGENT
    assert users["caller"].write == amiwire.ORIGINATE
    assert "s3cret" not in repr(users)
    with pytest.raises(AmiUsersError, match="user x has no secret"):
        parse_users("[x]\nread = all\n")
    with pytest.raises(AmiUsersError) as error:
        parse_users("secret = hidden\n[x]\n")
    assert "hidden" not in str(error.value)
    with pytest.raises(AmiUsersError, match="no user"):
        parse_users("[general]\nenabled = yes\n")
