from setuptools import setup

setup(
    name="rpc-gateway",
    version="0.1.0",
    description="XML-RPC and JSON-RPC on one port, from one service instance",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=["gateway", "gateway.upstream", "handlers"],
    install_requires=["jsonrpclib-pelix==1.2.0", "defusedxml>=0.7.1,<0.8",
                      "pyzmq>=25", "msgpack>=1.0", "prometheus-client>=0.20,<1"],
    extras_require={"test": ["pytest>=8", "requests>=2.31", "hypothesis>=6.100", "orjson",
                             "zerorpc==0.6.3"]},
    entry_points={"console_scripts": ["rpc-gateway = gateway.__main__:main"]},
    data_files=[("share/rpc-gateway/conf", ["conf/gateway.toml"]),
                ("share/rpc-gateway/systemd", ["systemd/rpc-gateway.service",
                                               "systemd/rpc-gateway.socket"])],
)
