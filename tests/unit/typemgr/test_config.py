from __future__ import annotations

import pytest
from ml2_driver_sdk.runtime.config import ConfigError

from services.typemgr.config import Settings, parse_tunnel_ranges, parse_vlan_ranges
from services.typemgr.segments import IdRange


def settings(**variables: str) -> Settings:
    return Settings.from_env(variables)


def config_error(**variables: str) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(variables)
    return str(caught.value)


def test_defaults_serve_the_demo_configuration() -> None:
    s = settings()
    assert s.listen == "127.0.0.1:50051"
    assert s.metrics_port == 9101
    assert s.database_url == "sqlite:///./data/typemgr.db"
    assert s.type_drivers == ("local", "flat", "vlan", "gre", "vxlan", "geneve")
    assert s.tenant_network_types == ("vxlan",)
    assert s.flat_networks == ("*",)
    assert s.vlan_physical_networks == ("physnet1",)
    assert s.vlan_ranges == (IdRange("physnet1", 100, 199),)
    assert s.vxlan_ranges == (IdRange("", 1000, 1999),)
    assert (s.gre_ranges, s.geneve_ranges, s.geneve_max_header_size) == ((), (), 30)
    assert (s.global_physnet_mtu, s.path_mtu, s.overlay_ip_version) == (1500, 0, 4)


def test_vlan_ranges_keep_order_and_a_bare_physnet_is_provider_only() -> None:
    physnets, ranges = parse_vlan_ranges(
        "V", ["physnet2", "physnet1:100:199", "physnet1:300:300", " physnet3 :1:4094"]
    )
    assert physnets == ("physnet2", "physnet1", "physnet3")
    assert ranges == (
        IdRange("physnet1", 100, 199),
        IdRange("physnet1", 300, 300),
        IdRange("physnet3", 1, 4094),
    )


def test_empty_vlan_ranges_configure_no_physical_network() -> None:
    s = settings(TYPEMGR_NETWORK_VLAN_RANGES="")
    assert s.vlan_physical_networks == ()
    assert s.vlan_ranges == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "physnet1:0:10",
            "TYPEMGR_NETWORK_VLAN_RANGES: 'physnet1:0:10': "
            "VLAN id must be between 1 and 4094, got 0",
        ),
        ("physnet1:10:4095", "VLAN id must be between 1 and 4094, got 4095"),
        (
            "physnet1:200:100",
            "TYPEMGR_NETWORK_VLAN_RANGES: 'physnet1:200:100': "
            "maximum 100 is smaller than minimum 200",
        ),
        (
            "physnet1:100",
            "TYPEMGR_NETWORK_VLAN_RANGES: 'physnet1:100' must be physnet or physnet:min:max",
        ),
        ("physnet1:a:10", "'physnet1:a:10': VLAN id minimum 'a' is not an integer"),
        (":1:10", "TYPEMGR_NETWORK_VLAN_RANGES: ':1:10': physical network name is empty"),
        (
            "physnet1:1:10,physnet1:10:20",
            "TYPEMGR_NETWORK_VLAN_RANGES: ranges physnet1:1:10 and physnet1:10:20 overlap",
        ),
    ],
)
def test_bad_vlan_ranges_are_refused_naming_the_variable_and_rule(value: str, message: str) -> None:
    assert message in config_error(TYPEMGR_NETWORK_VLAN_RANGES=value)


def test_workers_and_the_connection_pool_follow_each_other() -> None:
    assert (Settings.from_env({}).rpc_workers, Settings.from_env({}).db_pool_size) == (8, 10)
    sized = Settings.from_env({"TYPEMGR_RPC_WORKERS": "3"})
    assert (sized.rpc_workers, sized.db_pool_size) == (3, 5)
    assert Settings.from_env({"TYPEMGR_DB_POOL_SIZE": "8"}).db_pool_size == 8
    assert "TYPEMGR_DB_POOL_SIZE=7: must be at least TYPEMGR_RPC_WORKERS (8)" in config_error(
        TYPEMGR_DB_POOL_SIZE="7"
    )


def test_the_same_ids_on_two_physical_networks_do_not_overlap() -> None:
    _, ranges = parse_vlan_ranges("V", ["physnet1:1:10", "physnet2:1:10"])
    assert len(ranges) == 2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "1000:16777216",
            "TYPEMGR_VXLAN_VNI_RANGES: '1000:16777216': "
            "VXLAN VNI must be between 1 and 16777215, got 16777216",
        ),
        ("0:10", "VXLAN VNI must be between 1 and 16777215, got 0"),
        ("2000:1000", "maximum 1000 is smaller than minimum 2000"),
        ("1000", "TYPEMGR_VXLAN_VNI_RANGES: '1000' must be min:max"),
        ("physnet1:1:2", "TYPEMGR_VXLAN_VNI_RANGES: 'physnet1:1:2' must be min:max"),
        ("1:100,50:60", "TYPEMGR_VXLAN_VNI_RANGES: ranges 1:100 and 50:60 overlap"),
    ],
)
def test_bad_vni_ranges_are_refused(value: str, message: str) -> None:
    assert message in config_error(TYPEMGR_VXLAN_VNI_RANGES=value)


def test_vni_ranges_accept_the_whole_space() -> None:
    assert parse_tunnel_ranges("X", ["1:16777215"], "VNI", 1, 2**24 - 1) == (
        IdRange("", 1, 16777215),
    )


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"TYPEMGR_TYPE_DRIVERS": "vlan,foo"},
            "TYPEMGR_TYPE_DRIVERS: unknown network type 'foo'; "
            "known: local, flat, vlan, gre, vxlan, geneve",
        ),
        (
            {"TYPEMGR_TYPE_DRIVERS": ""},
            "TYPEMGR_TYPE_DRIVERS: at least one network type must be enabled",
        ),
        ({"TYPEMGR_TYPE_DRIVERS": "vlan,vlan"}, "TYPEMGR_TYPE_DRIVERS: 'vlan' is listed twice"),
        (
            {"TYPEMGR_TENANT_NETWORK_TYPES": "vxlan,bogus"},
            "TYPEMGR_TENANT_NETWORK_TYPES: unknown network type 'bogus'",
        ),
        (
            {"TYPEMGR_TENANT_NETWORK_TYPES": "flat"},
            "TYPEMGR_TENANT_NETWORK_TYPES: flat cannot be a tenant network type",
        ),
        (
            {"TYPEMGR_TYPE_DRIVERS": "flat,vxlan", "TYPEMGR_TENANT_NETWORK_TYPES": "vlan"},
            "TYPEMGR_TENANT_NETWORK_TYPES: 'vlan' is not enabled in "
            "TYPEMGR_TYPE_DRIVERS (flat, vxlan)",
        ),
        (
            {"TYPEMGR_TENANT_NETWORK_TYPES": "vxlan,vxlan"},
            "TYPEMGR_TENANT_NETWORK_TYPES: 'vxlan' is listed twice",
        ),
        (
            {"TYPEMGR_FLAT_NETWORKS": "*,physnet1"},
            "TYPEMGR_FLAT_NETWORKS: '*' allows any physical network",
        ),
        (
            {"TYPEMGR_GLOBAL_PHYSNET_MTU": "67"},
            "TYPEMGR_GLOBAL_PHYSNET_MTU=67: must be 0 (not set) or at least 68",
        ),
        ({"TYPEMGR_GLOBAL_PHYSNET_MTU": "-1"}, "TYPEMGR_GLOBAL_PHYSNET_MTU=-1: must be at least 0"),
        ({"TYPEMGR_PATH_MTU": "20"}, "TYPEMGR_PATH_MTU=20: must be 0 (not set) or at least 68"),
        ({"TYPEMGR_PATH_MTU": "x"}, "TYPEMGR_PATH_MTU='x': must be an integer"),
        (
            {"TYPEMGR_PHYSICAL_NETWORK_MTUS": "physnet1"},
            "TYPEMGR_PHYSICAL_NETWORK_MTUS: 'physnet1' must be physnet:mtu",
        ),
        (
            {"TYPEMGR_PHYSICAL_NETWORK_MTUS": "physnet1:60"},
            "MTU must be 0 (not set) or at least 68, got 60",
        ),
        ({"TYPEMGR_PHYSICAL_NETWORK_MTUS": "p:9000,p:1500"}, "physical network 'p' is given twice"),
        ({"TYPEMGR_OVERLAY_IP_VERSION": "5"}, "TYPEMGR_OVERLAY_IP_VERSION=5: must be 4 or 6"),
        ({"TYPEMGR_LISTEN": "50051"}, "TYPEMGR_LISTEN='50051': must be host:port"),
        (
            {"TYPEMGR_DATABASE_URL": "not a url"},
            "TYPEMGR_DATABASE_URL='not a url': not a database URL",
        ),
        ({"ML2_LOG_FORMAT": "xml"}, "ML2_LOG_FORMAT='xml': must be json or text"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable_and_rule(
    variables: dict[str, str], message: str
) -> None:
    assert message in config_error(**variables)


def test_gre_and_geneve_ranges_follow_their_protocol_limits() -> None:
    s = settings(
        TYPEMGR_GRE_TUNNEL_ID_RANGES="1:10,4294967000:4294967295",
        TYPEMGR_GENEVE_VNI_RANGES="5:16777215",
        TYPEMGR_GENEVE_MAX_HEADER_SIZE="38",
    )
    assert s.gre_ranges == (IdRange("", 1, 10), IdRange("", 4294967000, 4294967295))
    assert s.geneve_ranges == (IdRange("", 5, 16777215),)
    assert s.geneve_max_header_size == 38
    assert "GRE key must be between 1 and 4294967295, got 4294967296" in config_error(
        TYPEMGR_GRE_TUNNEL_ID_RANGES="1:4294967296"
    )
    assert "Geneve VNI must be between 1 and 16777215, got 0" in config_error(
        TYPEMGR_GENEVE_VNI_RANGES="0:5"
    )
    assert "TYPEMGR_GENEVE_MAX_HEADER_SIZE=20: must be between 30 and 282" in config_error(
        TYPEMGR_GENEVE_MAX_HEADER_SIZE="20"
    )
    assert "ranges 1:10 and 5:20 overlap" in config_error(TYPEMGR_GRE_TUNNEL_ID_RANGES="1:10,5:20")


def test_local_may_be_a_tenant_network_type() -> None:
    assert settings(TYPEMGR_TENANT_NETWORK_TYPES="local").tenant_network_types == ("local",)


def test_tenant_network_types_keep_their_order_and_may_be_empty() -> None:
    assert settings(TYPEMGR_TENANT_NETWORK_TYPES="vlan,vxlan").tenant_network_types == (
        "vlan",
        "vxlan",
    )
    assert settings(TYPEMGR_TENANT_NETWORK_TYPES="").tenant_network_types == ()


def test_flat_networks_may_be_listed_or_disabled() -> None:
    assert settings(TYPEMGR_FLAT_NETWORKS="physnet1, physnet2").flat_networks == (
        "physnet1",
        "physnet2",
    )
    assert settings(TYPEMGR_FLAT_NETWORKS="").flat_networks == ()


def test_mtu_settings_at_0_mean_not_set_as_in_neutron() -> None:
    s = settings(
        TYPEMGR_GLOBAL_PHYSNET_MTU="0",
        TYPEMGR_PATH_MTU="0",
        TYPEMGR_PHYSICAL_NETWORK_MTUS="physnet1:0,physnet2:9000",
    )
    assert (s.global_physnet_mtu, s.path_mtu) == (0, 0)
    assert dict(s.physical_network_mtus) == {"physnet1": 0, "physnet2": 9000}


def test_physical_network_mtus_are_parsed() -> None:
    s = settings(TYPEMGR_PHYSICAL_NETWORK_MTUS="physnet1:9000, physnet2:1400")
    assert dict(s.physical_network_mtus) == {"physnet1": 9000, "physnet2": 1400}
