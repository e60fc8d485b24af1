// The one ADDR:PORT parser: syntax, literals, names, and what the HTTP server reports as its endpoints.
#include "util/listen_address.h"

#include <gtest/gtest.h>

#include <unistd.h>

namespace {

using memsight::util::Endpoint;
using memsight::util::ListenAddress;
using memsight::util::parse_listen;
using memsight::util::resolve_listen;

TEST(ListenAddress, ParsesLiteralsAndNames)
{
    auto a = std::get<ListenAddress>(parse_listen("127.0.0.1:9756"));
    EXPECT_EQ(a.host, "127.0.0.1");
    EXPECT_EQ(a.port, 9756);
    a = std::get<ListenAddress>(parse_listen("[fe80::1]:1"));
    EXPECT_EQ(a.host, "fe80::1");
    EXPECT_EQ(a.port, 1);
    a = std::get<ListenAddress>(parse_listen("node-7.example.com:65535"));
    EXPECT_EQ(a.host, "node-7.example.com");
    EXPECT_EQ(a.port, 65535);
}

TEST(ListenAddress, RejectsBadSyntaxWithoutLookingUpNames)
{
    EXPECT_EQ(std::get<std::string>(parse_listen("9756")),
              "must be ADDR:PORT like 127.0.0.1:9756, [::1]:9756 or HOSTNAME:9756, got '9756'");
    EXPECT_EQ(std::get<std::string>(parse_listen("host:http")),
              "port must be a number between 1 and 65535, got 'http' in 'host:http'");
    EXPECT_EQ(std::get<std::string>(parse_listen("1.2.3:80")), "invalid IPv4 address '1.2.3' in '1.2.3:80'");
    EXPECT_EQ(std::get<std::string>(parse_listen("h/x:80")), "invalid host 'h/x' in 'h/x:80'");
}

TEST(ListenAddress, ResolvesLiteralsToThemselves)
{
    const auto e = std::get<std::vector<Endpoint>>(resolve_listen("127.0.0.1:9756"));
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].text, "127.0.0.1:9756");
    EXPECT_EQ(e[0].addr.ss_family, AF_INET);
    const auto any = std::get<std::vector<Endpoint>>(resolve_listen("0.0.0.0:1"));
    ASSERT_EQ(any.size(), 1u);
    EXPECT_EQ(any[0].text, "0.0.0.0:1");
}

TEST(ListenAddress, ResolvesNamesToNumericEndpoints)
{
    const auto local = std::get<std::vector<Endpoint>>(resolve_listen("localhost:9756"));
    ASSERT_FALSE(local.empty());
    for (const auto& e : local)
        EXPECT_TRUE(e.text == "127.0.0.1:9756" || e.text == "[::1]:9756") << e.text;
    char host[256] = {};
    ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
    const auto self = resolve_listen(std::string(host) + ":80");
    ASSERT_TRUE(std::holds_alternative<std::vector<Endpoint>>(self)) << std::get<std::string>(self);
    for (const auto& e : std::get<std::vector<Endpoint>>(self)) {
        EXPECT_TRUE(e.text.ends_with(":80")) << e.text;
        if (!memsight::util::http_server_has_ipv6())
            EXPECT_EQ(e.addr.ss_family, AF_INET) << e.text;
    }
}

TEST(ListenAddress, NameThatDoesNotResolveIsAnError)
{
    const auto r = resolve_listen("no-such-node.invalid:9756");
    ASSERT_TRUE(std::holds_alternative<std::string>(r));
    EXPECT_EQ(std::get<std::string>(r).rfind("host 'no-such-node.invalid' in 'no-such-node.invalid:9756' does not "
                                             "resolve (",
                                             0),
              0u)
        << std::get<std::string>(r);
}

} // namespace
