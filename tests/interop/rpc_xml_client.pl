#!/usr/bin/perl
# Perl's RPC::XML::Client (Debian librpc-xml-perl), as a Perl billing job uses it.
#
# Usage: rpc_xml_client.pl URL A B NAME LARGE_COUNT
# Prints one JSON object per call. Values are converted by the XML-RPC type
# the library decoded (RPC::XML keeps it on every value object), so the test
# sees ints as numbers and strings as strings. A fault is the library's native
# RPC::XML::fault object. "hello" runs with the library's defaults (it declares
# encoding="us-ascii" but writes UTF-8 bytes); "hello_utf8_declared" sets
# $RPC::XML::ENCODING = 'utf-8' first, the documented way to send non-ASCII.
use strict;
use warnings;

use Encode qw(decode_utf8);
use JSON::PP;
use RPC::XML;
use RPC::XML::Client;

my ($url, $a, $b, $name_bytes, $large) = @ARGV;
die "usage: $0 URL A B NAME LARGE_COUNT\n" unless defined $large;
my $name = decode_utf8($name_bytes);
my $json = JSON::PP->new->utf8->canonical;
my $client = RPC::XML::Client->new($url, useragent => [timeout => 10]);

# A typed RPC::XML value object as plain data for JSON.
sub plain {
    my ($value) = @_;
    my $type = $value->type;
    return [map { plain($_) } @{ $value->value(1) }] if $type eq 'array';
    if ($type eq 'struct') {
        my $members = $value->value(1);
        return { map { ($_ => plain($members->{$_})) } keys %$members };
    }
    return $value->value ? JSON::PP::true : JSON::PP::false if $type eq 'boolean';
    return 0 + $value->value if $type =~ /^(?:int|i4|i8|double)$/;
    return undef if $type eq 'nil';
    return $value->value;
}

# One line per call: the result, the fault, or the library's error string.
sub report {
    my ($call, $answer) = @_;
    my %line = (call => $call);
    if (!ref $answer) {
        $line{error} = $answer;
    } elsif ($answer->is_fault) {
        $line{fault} = { code => 0 + $answer->code, message => $answer->string };
        $line{native} = ref $answer;
    } else {
        $line{result} = plain($answer);
    }
    print $json->encode(\%line), "\n";
}

# system.multicall answers [value] per success and a fault struct per failure.
sub report_multicall {
    my ($answer) = @_;
    return report('multicall', $answer) if !ref $answer || $answer->is_fault;
    my @entries;
    for my $entry (@{ $answer->value(1) }) {
        if ($entry->type eq 'struct') {
            my $fault = $entry->value;
            push @entries, { fault => { code => 0 + $fault->{faultCode},
                                        message => $fault->{faultString} } };
        } else {
            push @entries, { result => plain($entry->value(1)->[0]) };
        }
    }
    print $json->encode({ call => 'multicall', result => \@entries }), "\n";
}

sub report_large {
    my ($answer) = @_;
    return report('ping_large', $answer) if !ref $answer || $answer->is_fault;
    my $items = plain($answer);
    my $sum = 0;
    $sum += $_ for @$items;
    print $json->encode({ call => 'ping_large',
                          result => { count => scalar @$items, sum => $sum } }), "\n";
}

report(add => $client->send_request('add', $a, $b));
report(subtract => $client->send_request('subtract', $a, $b));
report(divide => $client->send_request('divide', $a, $b));
report(divide_by_zero => $client->send_request('divide', $a, 0));
report(hello => $client->send_request('hello', $name));
{
    local $RPC::XML::ENCODING = 'utf-8';
    report(hello_utf8_declared => $client->send_request('hello', $name));
}
report(ping_struct => $client->send_request('ping', {
    number => $a, text => 'plain', list => [$a, $b, 'three'], nested => { real => 2.5 } }));
report(ping_array => $client->send_request('ping', [$a, 'two', { key => $b }, [1.5]]));
report_multicall($client->send_request('system.multicall', [
    { methodName => 'add', params => [$a, $b] },
    { methodName => 'subtract', params => [$a, $b] },
    { methodName => 'divide', params => [$a, 0] },
]));
report_large($client->send_request('ping', [0 .. $large - 1]));
report(i8_result => $client->send_request('getpow', 2, 40));
