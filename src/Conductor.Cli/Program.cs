using Conductor.Cli;

return await ConductorCli.RunAsync(args, CliEnvironment.System());
