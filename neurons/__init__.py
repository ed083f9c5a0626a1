"""Neuron statistics, selection methods, NeuronSet and interventions."""
