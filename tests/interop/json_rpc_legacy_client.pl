#!/usr/bin/perl
# Perl's JSON-RPC client from libjson-rpc-perl 1.06: JSON::RPC::Legacy::Client
# (the distribution's only client class; JSON::RPC itself is server-side).
#
# Usage: json_rpc_legacy_client.pl URL A B NAME LARGE_COUNT MODE
# MODE "default": the client as its documentation shows it, JSON-RPC 1.1 WD
#   ("version":"1.1") with no "id" member at all;
# MODE "with-id": the same, after $client->id(N) (an id on every call);
# MODE "1.0": $client->version('1.0'), which sends "id":"JSON::RPC::Legacy::Client".
# Prints one JSON object per call. JSON-RPC 1.1 has no batch, so there is no
# multicall line. An error is the library's ReturnObject with is_error set.
use strict;
use warnings;

use Encode qw(decode_utf8);
use JSON::PP;
use JSON::RPC::Legacy::Client;

my ($url, $a, $b, $name_bytes, $large, $mode) = @ARGV;
die "usage: $0 URL A B NAME LARGE_COUNT default|with-id|1.0\n" unless defined $mode;
my $json = JSON::PP->new->utf8->canonical;
my $client = JSON::RPC::Legacy::Client->new;
$client->ua->timeout(10);
$client->version('1.0') if $mode eq '1.0';
my $next_id = 1;

# Run one call; print its result, its error, or what the library returned instead.
sub report {
    my ($call, $method, $params, $shape) = @_;
    $client->id($next_id++) if $mode eq 'with-id';
    my $answer = $client->call($url, { method => $method, params => $params });
    my %line = (call => $call);
    if (!$answer) {
        $line{error} = 'no response object: ' . $client->status_line;
    } elsif ($answer->is_error) {
        my $error = $answer->content->{error};
        $line{fault} = ref $error eq 'HASH'
            ? { code => $error->{code}, message => $error->{message} }
            : { code => undef, message => $error };
        $line{native} = ref($answer) . '->is_error';
    } else {
        $line{result} = $shape ? $shape->($answer->result) : $answer->result;
    }
    print $json->encode(\%line), "\n";
}

sub count_and_sum {
    my ($items) = @_;
    my $sum = 0;
    $sum += $_ for @$items;
    return { count => scalar @$items, sum => $sum };
}

# "+ 0": JSON writes a Perl scalar never used as a number as a string ("21").
report(add => add => [$a + 0, $b + 0]);
report(subtract => subtract => [$a + 0, $b + 0]);
report(divide => divide => [$a + 0, $b + 0]);
report(divide_by_zero => divide => [$a + 0, 0]);
report(hello => hello => [decode_utf8($name_bytes)]);
report(ping_struct => ping => [{
    number => $a + 0, text => 'plain', list => [$a + 0, $b + 0, 'three'],
    nested => { real => 2.5 } }]);
report(ping_array => ping => [[$a + 0, 'two', { key => $b + 0 }, [1.5]]]);
report(ping_large => ping => [[0 .. $large - 1]], \&count_and_sum);
report(i8_result => getpow => [2, 40]);
